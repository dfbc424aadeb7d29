"""core.serve.auth: the gate's decision from secrets files, the wrong-password throttle, and roles."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from core.common.config import ServerConfig
from core.serve import auth
from core.serve.auth import AuthConfigError, LoginThrottle, check_password, client_address, decide_access, load_auth

OIDC_SHARED = '[auth]\nredirect_uri = "https://re.lab.example/oauth2callback"\ncookie_secret = "cookie-s3cret"\n'
PROVIDER = 'client_id = "the-id"\nclient_secret = "client-s3cret"\nserver_metadata_url = "https://idp.example/.well-known/openid-configuration"\n'


@pytest.fixture
def secrets(tmp_path) -> Path:
    return tmp_path / ".streamlit" / "secrets.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def with_authlib(monkeypatch):
    monkeypatch.setattr(auth, "authlib_installed", lambda: True)


# -- the gate ------------------------------------------------------------------------------------------


def test_no_secrets_file_means_no_gate(tmp_path):
    assert load_auth([str(tmp_path / "a" / "secrets.toml"), str(tmp_path / "b" / "secrets.toml")]).mode == "off"


def test_a_password_turns_the_gate_on_and_stays_out_of_repr(secrets):
    config = load_auth([str(write(secrets, '[auth]\npassword = "s3cret"\n'))])
    assert (config.mode, config.password) == ("password", "s3cret")
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[auth]\npassword = "s3cret\n', "not valid TOML"),
        ('[auth]\npasword = "s3cret"\n', "unknown key 'pasword' in [auth]"),
        ('[api]\ntoken = "s3cret"\n', "no [auth] section"),
        ("", "no [auth] section"),
        ('[auth]\npassword = ""\n', "[auth] password is empty"),
        ('[auth]\npassword = "   "\n', "[auth] password is empty"),
        ("[auth]\npassword = 12345\n", "[auth] password must be a string"),
        ('auth = "s3cret"\n', "[auth] must be a table"),
        ("[auth]\n", "sets neither password nor OIDC"),
        ('[auth]\nopen = "s3cret"\n', "[auth] open must be true"),
        ('[auth]\nopen = true\npassword = "s3cret"\n', "cannot be combined"),
        (OIDC_SHARED + 'password = "s3cret"\n', "both a password and OIDC"),
        ('[auth]\nredirect_uri = "https://x.example/oauth2callback"\n' + PROVIDER, "[auth] cookie_secret"),
        ('[auth]\ncookie_secret = "cookie-s3cret"\n' + PROVIDER, "[auth] redirect_uri"),
        (OIDC_SHARED.replace("/oauth2callback", "/callback") + PROVIDER, "must end with /oauth2callback"),
        (OIDC_SHARED, "client_id, client_secret and server_metadata_url"),
        (OIDC_SHARED + 'client_id = "the-id"\n', "needs a non-empty client_secret, server_metadata_url"),
        (OIDC_SHARED + "[auth.okta]\n" + PROVIDER.replace("client_secret", "client_secert"), "[auth.okta] needs"),
        (OIDC_SHARED + "[auth.my_idp]\n" + PROVIDER, "underscore"),
    ],
)
def test_secrets_that_do_not_configure_the_gate_fail_closed_naming_file_and_key(secrets, with_authlib, text, problem):
    path = write(secrets, text)
    with pytest.raises(AuthConfigError) as error:
        load_auth([str(path)])
    message = str(error.value)
    assert message.startswith(str(path)) and problem in message
    assert "s3cret" not in message  # never a value


def test_oidc_with_a_default_and_named_providers(secrets, with_authlib):
    text = OIDC_SHARED + PROVIDER + "[auth.okta]\n" + PROVIDER + "[auth.ms]\n" + PROVIDER
    config = load_auth([str(write(secrets, text))])
    assert (config.mode, config.providers, config.password) == ("oidc", (None, "okta", "ms"), None)


def test_oidc_client_kwargs_is_an_option_not_a_provider(secrets, with_authlib):
    text = OIDC_SHARED + "[auth.okta]\n" + PROVIDER + "[auth.client_kwargs]\nprompt = 'login'\n"
    assert load_auth([str(write(secrets, text))]).providers == ("okta",)


def test_oidc_without_authlib_fails_closed(secrets, monkeypatch):
    monkeypatch.setattr(auth, "authlib_installed", lambda: False)
    with pytest.raises(AuthConfigError, match="Authlib"):
        load_auth([str(write(secrets, OIDC_SHARED + PROVIDER))])


def test_open_true_serves_without_a_gate_on_purpose(secrets):
    assert load_auth([str(write(secrets, "[auth]\nopen = true\n[api]\ntoken = 'x'\n"))]).mode == "off"


def test_files_merge_as_in_streamlit_and_the_error_names_the_file_that_set_auth(tmp_path):
    user = write(tmp_path / "home" / "secrets.toml", '[auth]\npassword = "from-home"\n')
    project = write(tmp_path / "project" / "secrets.toml", '[api]\ntoken = "x"\n')
    assert load_auth([str(user), str(project)]).password == "from-home"  # [auth] from the earlier file stands
    write(project, '[auth]\npasword = "typo"\n')  # a later [auth] replaces the earlier one wholesale
    with pytest.raises(AuthConfigError, match=f"^{project}: unknown key 'pasword'"):
        load_auth([str(user), str(project)])


def test_kubernetes_style_secret_directories_are_read(tmp_path):
    root = tmp_path / "k8s"
    write(root / "auth" / "password", "s3cret\n")
    write(root / "auth" / "other", "x")  # two files: [auth] is a table of both
    with pytest.raises(AuthConfigError, match="unknown key 'other'"):
        load_auth([str(root)])
    (root / "auth" / "other").unlink()  # one file: Streamlit collapses it to a plain value
    with pytest.raises(AuthConfigError, match=r"\[auth\] must be a table"):
        load_auth([str(root)])


def test_the_env_var_replaces_streamlits_list(monkeypatch, tmp_path):
    monkeypatch.delenv(auth.SECRETS_ENV, raising=False)
    assert auth.secrets_paths(["a.toml"]) == ["a.toml"]
    monkeypatch.setenv(auth.SECRETS_ENV, f"{tmp_path}/x.toml:{tmp_path}/y.toml")
    assert auth.secrets_paths(["a.toml"]) == [f"{tmp_path}/x.toml", f"{tmp_path}/y.toml"]


def test_a_changed_password_has_another_fingerprint():
    assert auth.password_fingerprint("a") == auth.password_fingerprint("a") != auth.password_fingerprint("b")


# -- the throttle --------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lockout_starts_after_the_free_failures_and_doubles_up_to_the_cap():
    clock = Clock()
    throttle = LoginThrottle(free_failures=3, base_delay=2, max_delay=30, clock=clock)
    keys = ["client:1.2.3.4"]
    locks = []
    for _ in range(8):
        assert throttle.retry_after(keys) == 0
        locks.append(throttle.failure(keys)[1])
        clock.now += locks[-1]  # wait exactly out the lockout
    assert locks == [0, 0, 0, 2, 4, 8, 16, 30]


def test_a_locked_key_waits_and_others_do_not():
    clock = Clock()
    throttle = LoginThrottle(free_failures=1, base_delay=10, clock=clock)
    throttle.failure(["client:a", "session:1"])
    throttle.failure(["client:a", "session:1"])
    assert throttle.retry_after(["client:a"]) == 10
    assert throttle.retry_after(["client:b", "session:2"]) == 0
    assert throttle.retry_after(["client:b", "session:1"]) == 10  # a new address, the same session
    clock.now += 7
    assert throttle.retry_after(["client:a"]) == pytest.approx(3)
    clock.now += 3
    assert throttle.retry_after(["client:a"]) == 0


def test_failures_are_forgotten_after_a_quiet_hour_and_on_success():
    clock = Clock()
    throttle = LoginThrottle(free_failures=2, base_delay=5, forget_after=3600, clock=clock)
    for _ in range(2):
        throttle.failure(["k"])
    clock.now += 3601
    assert throttle.failure(["k"]) == (1, 0)  # counted afresh
    throttle.failure(["k"])
    throttle.success(["k"])
    assert throttle.failure(["k"]) == (1, 0)


def test_memory_is_bounded_and_unlocked_keys_go_before_lockouts():
    clock = Clock()
    throttle = LoginThrottle(free_failures=1, base_delay=100, max_keys=10, clock=clock)
    throttle.failure(["attacker"])
    throttle.failure(["attacker"])
    for i in range(50):  # one failure from each of many addresses: none locked
        clock.now += 1
        throttle.failure([f"spray-{i}"])
    assert len(throttle._state) <= 10
    assert throttle.retry_after(["attacker"]) > 0
    for i in range(50):  # a flood of locked keys still cannot grow the table
        throttle.failure([f"locked-{i}"])
        throttle.failure([f"locked-{i}"])
    assert len(throttle._state) <= 10


def test_concurrent_failures_are_all_counted():
    throttle = LoginThrottle(free_failures=10_000)

    def fail() -> None:
        for _ in range(500):
            throttle.failure(["k"])

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert throttle.failure(["k"])[0] == 4001


def test_check_password_refuses_a_locked_client_unseen_and_logs_without_the_password(caplog):
    clock = Clock()
    throttle = LoginThrottle(free_failures=1, base_delay=60, clock=clock)
    caplog.set_level(logging.INFO, logger="restudio.auth")
    kwargs = {"client": "203.0.113.9", "session_id": "abcdef123456", "throttle": throttle}
    assert check_password("guess-one", "s3cret", **kwargs) == auth.Attempt(accepted=False, checked=True)
    assert check_password("guess-two", "s3cret", **kwargs) == auth.Attempt(False, True, 60)
    assert check_password("s3cret", "s3cret", **kwargs) == auth.Attempt(False, False, 60)  # right, but locked
    # Another session from the same address is locked too; the lockout is per client as well.
    other = {**kwargs, "session_id": "zzz"}
    assert not check_password("s3cret", "s3cret", **other).accepted
    clock.now += 60
    assert check_password("s3cret", "s3cret", **kwargs).accepted
    logged = caplog.text
    assert "203.0.113.9" in logged and "wrong team password" in logged and "refused" in logged
    assert "guess" not in logged and "s3cret" not in logged


@pytest.mark.parametrize(
    ("ip", "headers", "expected"),
    [
        ("198.51.100.7", {"X-Real-Ip": "10.0.0.1"}, "198.51.100.7"),  # a remote peer's headers are not trusted
        (None, {"X-Real-Ip": "203.0.113.9"}, "203.0.113.9"),
        (None, {"X-Forwarded-For": "1.1.1.1, 203.0.113.9"}, "203.0.113.9"),  # the nearest proxy's entry
        (None, {}, "local"),
    ],
)
def test_client_address(ip, headers, expected):
    assert client_address(ip, headers) == expected


# -- roles ---------------------------------------------------------------------------------------------

EDITORS = ServerConfig(editors=frozenset({"ana@lab.example"}))


def test_oidc_editor_by_verified_email_case_insensitively():
    access = decide_access("oidc", {"is_logged_in": True, "email": "Ana@Lab.Example"}, "typed", EDITORS)
    assert (access.identity, access.signed_in, access.can_edit, access.self_declared) == (
        "Ana@Lab.Example",
        True,
        True,
        False,
    )
    assert access.role == "editor"


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ({"is_logged_in": True, "email": "eve@lab.example"}, "not listed"),
        ({"is_logged_in": True, "email": "ana@lab.example", "email_verified": False}, "not verified"),
        ({"is_logged_in": True, "name": "ana@lab.example"}, "not listed"),  # a display name is not an email
        ({"is_logged_in": False, "email": "ana@lab.example"}, "not signed in"),
        (None, "not signed in"),
    ],
)
def test_oidc_everyone_else_views_read_only(user, why):
    access = decide_access("oidc", user, "ana@lab.example", EDITORS)
    assert not access.can_edit and why in access.why_read_only and access.role == "viewer: read-only"


def test_oidc_without_editors_configured_nobody_edits():
    access = decide_access("oidc", {"is_logged_in": True, "email": "ana@lab.example"}, "", ServerConfig())
    assert not access.can_edit and "no editors are configured" in access.why_read_only


@pytest.mark.parametrize("mode", ["off", "password"])
def test_without_oidc_the_typed_name_is_self_declared_and_st_user_is_ignored(mode):
    forged = {"is_logged_in": True, "email": "ana@lab.example"}
    access = decide_access(mode, forged, "  min  ", EDITORS)
    assert (access.identity, access.signed_in, access.can_edit, access.self_declared) == ("min", False, True, True)
    demo = decide_access(mode, forged, "min", ServerConfig(read_only=True, editors=EDITORS.editors))
    assert not demo.can_edit and "read_only" in demo.why_read_only
