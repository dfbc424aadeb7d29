"""Builders shared by the unit, AppTest and browser tests: frames, workspaces, tiny models and runs."""
