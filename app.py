"""RE Studio entry point: the sign-in gate, navigation and the shared sidebar (dataset, identity and role,
workspace)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import NoReturn

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import jobs
from core.common.config import ConfigError, load_server_config
from core.common.settings import Settings
from core.serve import auth
from views.common import access, can_edit, workspace

ROOT = Path(__file__).parent
# A local image: a ":material/..." page icon makes the browser fetch the favicon from fonts.gstatic.com,
# which an offline workstation cannot reach.
st.set_page_config(page_title="RE Studio", page_icon=str(ROOT / "assets" / "favicon.png"), layout="wide")
st.html(f"<style>{(ROOT / 'assets' / 'style.css').read_text()}</style>")


def _md(text: str) -> str:
    """Text shown as itself in markdown (an email or a typed name is data, not markup)."""
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!<>|~$" else c for c in text)


def error_page(problem: str, detail: str) -> NoReturn:
    """Instead of the app: a configuration that does not say what the operator meant never serves it."""
    logging.getLogger("restudio.auth").error("not serving: %s", detail)
    st.title("RE Studio")
    st.error(f"**{problem}**\n\n{_md(detail)}", icon=":material/block:")
    st.caption("The app stays closed until whoever runs this server fixes the file; a reload then opens it.")
    st.stop()


def _session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "none"


def password_gate(expected: str) -> bool:
    """The shared-password form. Attempts go through a server-wide throttle keyed by client address and
    by session (``core.serve.auth.check_password``), so a wrong guess costs a growing wait, never a sleep."""
    # The session stays in while the password it entered is the configured one: changing it signs all out.
    if st.session_state.get("authenticated") == auth.password_fingerprint(expected):
        return True
    st.title("RE Studio")
    # clear_on_submit: the typed password does not linger in the session's widget state.
    with st.form("login", clear_on_submit=True):
        given = st.text_input("Team password", type="password", key="password")
        submitted = st.form_submit_button("Enter", type="primary")
    if submitted:
        client = auth.client_address(st.context.ip_address, dict(st.context.headers))
        attempt = auth.check_password(given, expected, client=client, session_id=_session_id())
        if attempt.accepted:
            st.session_state["authenticated"] = auth.password_fingerprint(expected)
            st.rerun()
        wait = f"try again in {math.ceil(attempt.retry_after)} s"
        if not attempt.checked:
            st.error(f"Too many wrong passwords: {wait}.")
        elif attempt.retry_after > 0:
            st.error(f"Wrong password. Too many wrong passwords: {wait}.")
        else:
            st.error("Wrong password.")
    return False


def oidc_gate(config: auth.AuthConfig) -> bool:
    """With an identity provider nothing but the sign-in page shows until ``st.login`` has identified
    the session."""
    if st.user.to_dict().get("is_logged_in"):
        return True
    st.title("RE Studio")
    st.write("Sign in with your organisation's account to continue.")
    for provider in config.providers:
        label = "Sign in" if provider is None else f"Sign in with {provider}"
        if st.button(label, type="primary", key=f"login_{provider or 'default'}"):
            st.login(provider)  # type: ignore[arg-type]  # None: the provider configured in [auth] itself
    return False


def gate() -> auth.AuthConfig:
    """Stop the run unless this session may see the app; returns the gate in force."""
    try:
        config = auth.load_auth(auth.secrets_paths(st.get_option("secrets.files")))
    except auth.AuthConfigError as exc:
        error_page("Sign-in is misconfigured, so RE Studio is closed.", str(exc))
    if config.mode == "password" and not password_gate(config.password or ""):
        st.stop()
    if config.mode == "oidc" and not oidc_gate(config):
        st.stop()
    # Checked after the gate: a stranger at the sign-in page learns nothing about the server's files.
    try:
        load_server_config()
    except ConfigError as exc:
        error_page("The server configuration is broken, so RE Studio is closed.", str(exc))
    return config


def sidebar_identity(config: auth.AuthConfig) -> None:
    """Who this session is and what it may do: with OIDC the provider's identity and a sign-out
    button, without it the self-declared name; then the role."""
    who = access()
    if config.mode == "oidc":
        st.markdown(f"Signed in as **{_md(who.identity or 'an account without email')}**")
        if st.button("Sign out", icon=":material/logout:"):
            st.logout()
    elif who.can_edit:
        if "author" not in st.session_state:
            st.session_state["author"] = Settings.from_env().author
        st.text_input(
            "Your name",
            key="author",
            placeholder="for the audit log",
            help="Every edit is logged with it. Names are self-declared: without sign-in (OIDC) nobody checks them.",
        )
        st.caption("Names are self-declared: no per-person sign-in (OIDC) is configured.")
    if who.can_edit:
        st.caption(":material/edit: editor")
    else:
        st.caption(f":material/visibility: viewer: read-only ({_md(who.why_read_only)})")


auth_config = gate()
ws = workspace()
if not Settings.from_env().no_watcher:
    # One daemon thread per server process reconciles jobs every 2 s: queued jobs start and
    # killed ones are marked even when nobody has the Train page open.
    jobs.ensure_watcher(str(ws.root))

pages = [
    st.Page("views/data.py", title="Data", icon=":material/dataset:", url_path="home", default=True),
    st.Page("views/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("views/explain.py", title="Explain", icon=":material/psychology:", url_path="explain"),
    st.Page("views/evaluate.py", title="Evaluate", icon=":material/analytics:", url_path="evaluate"),
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
    sidebar_identity(auth_config)
    if can_edit():  # the server's paths are for the people who run it, not for viewers
        st.caption(f"Workspace: `{ws.root}`")

nav.run()
