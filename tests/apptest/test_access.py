"""The sign-in gate, roles and error pages, through the whole app (AppTest).

The gate reads its secrets file afresh on every run; ``RESTUDIO_SECRETS_FILE`` points it at a temp file
(Streamlit's own ``st.secrets`` is never involved), ``RESTUDIO_CONFIG`` at a temp ``restudio.toml``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.serve import auth

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.apptest


@pytest.fixture
def files(tmp_path, monkeypatch) -> Iterator[tuple[Path, Path]]:
    """(secrets file, restudio.toml), neither existing yet; the throttle starts clean."""
    secrets, config = tmp_path / "secrets.toml", tmp_path / "restudio.toml"
    monkeypatch.setenv("RESTUDIO_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("RESTUDIO_CONFIG", str(config))
    auth.THROTTLE.clear()
    yield secrets, config
    auth.THROTTLE.clear()


@pytest.fixture
def app(demo_home, monkeypatch) -> Callable[[], AppTest]:
    def make() -> AppTest:
        monkeypatch.setenv("RESTUDIO_HOME", str(demo_home))
        monkeypatch.setenv("RESTUDIO_NO_WATCHER", "1")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        assert not at.exception, at.exception
        return at

    return make


def texts(at: AppTest) -> str:
    """Everything the page says, main area and sidebar."""
    parts = [
        e.value for kind in ("title", "markdown", "caption", "error", "warning", "info") for e in getattr(at, kind)
    ]
    parts += [b.label for b in at.button] + [t.label for t in at.text_input]
    return "\n".join(str(p) for p in parts)


def shows_app(at: AppTest) -> bool:
    # The sidebar's dataset picker and page links only exist past the gate.
    return bool(at.sidebar.selectbox) or any("Dataset" in s.label for s in at.selectbox)


BROKEN = {
    "unparsable": ('[auth]\npassword = "unterminated\n', "not valid TOML"),
    "typo": ('[auth]\npasword = "hunter2-secret"\n', "unknown key 'pasword' in [auth]"),
    "no auth section": ('[other]\ntoken = "hunter2-secret"\n', "no [auth] section"),
    "empty password": ('[auth]\npassword = "  "\n', "[auth] password is empty"),
    "half OIDC": (
        '[auth]\nredirect_uri = "https://re.lab.example/oauth2callback"\nclient_id = "hunter2-secret"\n',
        "cookie_secret",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_secrets_file_shows_an_error_page_not_the_app(files, app, case):
    secrets, _ = files
    content, problem = BROKEN[case]
    secrets.write_text(content)
    at = app()
    said = texts(at)
    assert not shows_app(at) and not at.text_input
    assert "Sign-in is misconfigured" in said and problem in said.replace("\\", "")
    assert str(secrets) in said.replace("\\", "")
    assert "hunter2" not in said  # a value from the file never reaches the page


def test_the_right_password_opens_the_app_and_a_wrong_one_does_not(files, app):
    secrets, _ = files
    secrets.write_text(f'[auth]\npassword = "{PASSWORD}"\n')
    at = app()
    assert not shows_app(at)
    at.text_input(key="password").set_value("wrong").run()
    at.button[0].click().run()
    assert "Wrong password." in texts(at) and not shows_app(at)
    at.text_input(key="password").set_value(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert shows_app(at)


def login(at: AppTest, password: str) -> AppTest:
    at.text_input(key="password").set_value(password)
    return at.button[0].click().run()


def test_breaking_the_secrets_file_while_the_app_runs_closes_it(files, app):
    secrets, _ = files
    secrets.write_text(f'[auth]\npassword = "{PASSWORD}"\n')
    at = login(app(), PASSWORD)
    assert shows_app(at)
    secrets.write_text(f'[auth]\npasword = "{PASSWORD}"\n')  # the typo made while the app runs
    at.run()
    assert not shows_app(at) and "unknown key 'pasword'" in texts(at)
    secrets.write_text(f'[auth]\npassword = "{PASSWORD}"\n')
    at.run()
    assert shows_app(at)  # fixed again, the same password: this session is still in
    secrets.write_text('[auth]\npassword = "a new one"\n')
    at.run()
    assert not shows_app(at) and at.text_input(key="password")  # a changed password signs everyone out


def test_repeated_wrong_passwords_lock_the_session_even_against_the_right_one(files, app):
    secrets, _ = files
    secrets.write_text(f'[auth]\npassword = "{PASSWORD}"\n')
    at = app()
    for _ in range(auth.THROTTLE.free_failures):
        login(at, "guess")
        assert "Wrong password." in texts(at) and "try again" not in texts(at)
    login(at, "guess")
    assert "try again in" in texts(at)
    login(at, PASSWORD)  # refused unseen while locked
    assert "Too many wrong passwords: try again in" in texts(at) and not shows_app(at)


def test_a_read_only_server_says_so_and_hides_the_workspace_path(files, app, demo_home):
    _, config = files
    config.write_text("[access]\nread_only = true\n")
    at = app()
    assert shows_app(at)
    said = texts(at)
    assert "viewer: read-only" in said
    assert str(demo_home) not in said and "Workspace: " not in said
    assert not [t for t in at.sidebar.text_input if t.key == "author"]  # a viewer signs nothing


def test_without_sign_in_the_typed_name_is_marked_self_declared(files, app, demo_home):
    at = app()
    said = texts(at)
    assert "self-declared" in said and ":material/edit: editor" in said and str(demo_home) in said
    assert at.text_input(key="author")


def test_a_broken_server_config_shows_an_error_page(files, app):
    _, config = files
    config.write_text("[access]\nread_only = 'yes'\n")
    at = app()
    said = texts(at).replace("\\", "")
    assert not shows_app(at)
    assert "server configuration is broken" in said and str(config) in said and "read_only" in said


OIDC = """[auth]
redirect_uri = "https://re.lab.example/oauth2callback"
cookie_secret = "a-long-random-cookie-secret"

[auth.google]
client_id = "id"
client_secret = "secret"
server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"
"""


def test_with_oidc_nothing_but_the_sign_in_page_shows(files, app, monkeypatch):
    secrets, _ = files
    secrets.write_text(OIDC)
    monkeypatch.setattr(auth, "authlib_installed", lambda: True)  # st.login needs it; nothing here calls it
    at = app()
    assert not shows_app(at)
    assert [b.label for b in at.button] == ["Sign in with google"]
    assert not at.text_input  # no password box, no typed name


def test_oidc_without_authlib_is_an_error_page(files, app, monkeypatch):
    secrets, _ = files
    secrets.write_text(OIDC)
    monkeypatch.setattr(auth, "authlib_installed", lambda: False)
    at = app()
    assert not shows_app(at) and "Authlib" in texts(at)


@pytest.mark.parametrize(
    ("email", "role"), [("Ana@Lab.example", ":material/edit: editor"), ("eve@lab.example", "viewer: read-only")]
)
def test_a_signed_in_account_is_named_and_its_role_comes_from_the_editors_list(
    files, app, monkeypatch, demo_home, email, role
):
    secrets, config = files
    secrets.write_text(OIDC)
    config.write_text('[access]\neditors = ["ana@lab.example"]\n')
    monkeypatch.setattr(auth, "authlib_installed", lambda: True)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    monkeypatch.setenv("RESTUDIO_HOME", str(demo_home))
    monkeypatch.setenv("RESTUDIO_NO_WATCHER", "1")
    at.user = {"is_logged_in": True, "email": email, "email_verified": True}
    at.run()
    assert not at.exception, at.exception
    said = texts(at).replace("\\", "")
    assert shows_app(at) and f"Signed in as {email}" in said.replace("*", "") and role in said
    assert "Sign out" in [b.label for b in at.sidebar.button]
    assert not [t for t in at.sidebar.text_input if t.key == "author"]  # the provider names people here
    assert (str(demo_home) in said) == role.endswith("editor")
