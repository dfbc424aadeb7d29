"""RE Studio core: all logic behind the views and the CLI, importable without Streamlit."""
