"""RE Studio entry point: navigation and the shared sidebar (workspace, dataset, author)."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core import jobs
from core.auth import configured_password, password_ok
from views.common import workspace

ROOT = Path(__file__).parent
# A local image: a ":material/..." page icon makes the browser fetch the favicon from fonts.gstatic.com,
# which an offline workstation cannot reach.
st.set_page_config(page_title="RE Studio", page_icon=str(ROOT / "assets" / "favicon.png"), layout="wide")
st.html(f"<style>{(ROOT / 'assets' / 'style.css').read_text()}</style>")


def _secrets() -> dict:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml: the gate is off
        return {}


def password_gate() -> bool:
    expected = configured_password(_secrets())
    if expected is None or st.session_state.get("authenticated"):
        return True
    st.title("RE Studio")
    with st.form("login"):
        given = st.text_input("Team password", type="password", key="password")
        if st.form_submit_button("Enter", type="primary"):
            if password_ok(given, expected):
                st.session_state["authenticated"] = True
                st.rerun()
            st.error("Wrong password.")
    return False


if password_gate():
    ws = workspace()
    if not os.environ.get("RESTUDIO_NO_WATCHER"):
        # One daemon thread per server process reconciles jobs every 2 s: queued jobs start and
        # killed ones are marked even when nobody has the Train page open.
        jobs.ensure_watcher(str(ws.root))

    pages = [
        st.Page("views/data.py", title="Data", icon=":material/dataset:", url_path="home", default=True),
        st.Page("views/train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page("views/explain.py", title="Explain", icon=":material/psychology:", url_path="explain"),
        st.Page("views/ensemble.py", title="Ensemble", icon=":material/join_inner:", url_path="ensemble"),
    ]
    # The default page always lives at "/" (Streamlit ignores its url_path), so "/data" would open a
    # "Page not found" popup: a hidden second entry gives the Data view its own URL as well.
    data_alias = st.Page("views/data.py", title="Data", icon=":material/dataset:", url_path="data", visibility="hidden")
    # Hidden navigation, drawn below as links: so the app's title sits above the page links.
    nav = st.navigation([*pages, data_alias], position="hidden")

    with st.sidebar:
        st.markdown("### :material/hub: RE Studio")
        for page in pages:
            st.page_link(page)
        st.divider()
        datasets = ws.datasets()
        names = [d.name for d in datasets]
        wanted = st.query_params.get("dataset")
        if names:
            if st.session_state.get("dataset") not in names:
                st.session_state["dataset"] = wanted if wanted in names else names[-1]
            chosen = st.selectbox("Dataset", names, key="dataset")
            st.query_params["dataset"] = chosen
        else:
            st.info("No dataset yet: import one on the Data page.")
        if "author" not in st.session_state:
            st.session_state["author"] = os.environ.get("RESTUDIO_AUTHOR", "")
        st.text_input("Your name", key="author", placeholder="for the audit log", help="Every edit is logged with it.")
        st.caption(f"Workspace: `{ws.root}`")

    nav.run()
