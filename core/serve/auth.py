"""Who may use a served RE Studio, and as what: the sign-in gate, its throttle, and roles.

No Streamlit here: ``app.py`` and ``views/common.py`` pass in what Streamlit knows (the secrets
files' paths, ``st.user``, the client's address), so every decision is a plain, testable function.

The gate is configured in Streamlit's secrets files (``.streamlit/secrets.toml`` next to the app and
in the working directory, ``~/.streamlit/secrets.toml``, or whatever ``secrets.files`` lists;
``RESTUDIO_SECRETS_FILE``, a list separated by ``os.pathsep``, replaces that list for tests). They
are read again on every run, because Streamlit caches ``st.secrets`` and a file broken while the app
runs must close the gate, not open it:

- no secrets file at all: no gate (a single-user workstation);
- ``[auth] password = "..."``: a shared team password, compared in constant time;
- Streamlit's OIDC keys (``redirect_uri``, ``cookie_secret`` and ``client_id``, ``client_secret``,
  ``server_metadata_url`` in ``[auth]`` or in named ``[auth.NAME]`` providers): ``st.login``;
- ``[auth] open = true``: no gate, said explicitly (secrets that hold other keys only);
- anything else (unparsable file, no ``[auth]``, an unknown key such as ``pasword``, an empty
  password, half an OIDC configuration) raises :class:`AuthConfigError`, naming the file and key
  but never a value, and the app shows that instead of itself: the gate fails closed.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import logging
import secrets as _random
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.common.config import ServerConfig
from core.common.errors import RestudioError
from core.common.settings import SECRETS_FILE_ENV, Settings

log = logging.getLogger("restudio.auth")

SECRETS_ENV = SECRETS_FILE_ENV

# What Streamlit's st.login reads from [auth] (besides named provider tables), and what this gate adds.
_OIDC_SHARED = ("redirect_uri", "cookie_secret")
_OIDC_PROVIDER = ("client_id", "client_secret", "server_metadata_url")
_OIDC_OPTIONAL = ("client_kwargs", "expose_tokens")
_OWN_KEYS = ("password", "open")
_KNOWN_KEYS = (*_OWN_KEYS, *_OIDC_SHARED, *_OIDC_PROVIDER, *_OIDC_OPTIONAL)

Mode = Literal["off", "password", "oidc"]


class AuthConfigError(RestudioError, ValueError):
    """The secrets exist but do not configure the gate correctly; the message names the file and key."""


@dataclass(frozen=True)
class AuthConfig:
    """How sessions get in. ``providers`` lists the OIDC providers for ``st.login`` (None: the
    unnamed one configured in ``[auth]`` itself)."""

    mode: Mode = "off"
    password: str | None = field(default=None, repr=False)  # repr=False: never in a log line or a page
    providers: tuple[str | None, ...] = ()
    files: tuple[str, ...] = ()


def secrets_paths(streamlit_files: Sequence[str]) -> list[str]:
    """The secrets locations to check: ``RESTUDIO_SECRETS_FILE`` when set, else Streamlit's own list."""
    override = Settings.from_env().secrets_files
    if override is not None:
        return list(override)
    return list(streamlit_files)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AuthConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise AuthConfigError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message gives line and column, not the text there: no secret leaks into the page.
        raise AuthConfigError(f"{path}: not valid TOML ({exc})") from None


def _read_directory(path: Path) -> dict[str, Any]:
    """Kubernetes-style secrets, as Streamlit reads them: one folder per secret, one file per key
    (a folder with a single file is that value itself)."""
    out: dict[str, Any] = {}
    try:
        for sub in sorted(path.iterdir()):
            if not sub.is_dir():
                raise AuthConfigError(f"{path}: {sub.name} is not a folder (directory secrets need one per secret)")
            values = {f.name: f.read_text(encoding="utf-8").strip() for f in sorted(sub.iterdir()) if f.is_file()}
            out[sub.name] = next(iter(values.values())) if len(values) == 1 else values
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthConfigError(f"{path}: cannot be read ({type(exc).__name__})") from None
    return out


def read_secrets(paths: Iterable[str]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Merge the secrets files that exist, later ones winning per top-level key as in Streamlit.
    Returns the merged table, which file set each top-level key, and the files read."""
    merged: dict[str, Any] = {}
    found: list[str] = []
    origin: dict[str, str] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if raw.endswith(".toml"):
            if not path.exists():
                continue
            data = _read_toml(path)
        elif path.is_dir():
            data = _read_directory(path)
        else:
            continue  # Streamlit refuses such an entry when st.secrets is first used; nothing to read here
        found.append(str(path))
        merged.update(data)
        origin.update(dict.fromkeys(data, str(path)))
    return merged, origin, found


def _nonempty_str(table: Mapping[str, Any], key: str) -> bool:
    value = table.get(key)
    return isinstance(value, str) and bool(value.strip())


def authlib_installed() -> bool:
    """``st.login`` needs Authlib; without it a sign-in click would end in a traceback."""
    return importlib.util.find_spec("authlib") is not None


def parse_auth(secrets: Mapping[str, Any], *, where: str) -> AuthConfig:
    """Decide the gate from merged secrets; ``where`` names the file(s) in error messages."""
    if "auth" not in secrets:
        raise AuthConfigError(
            f'{where}: no [auth] section. Add [auth] password = "..." for a team password, Streamlit\'s '
            "OIDC keys for sign-in, or [auth] open = true to serve without a gate on purpose."
        )
    section = secrets["auth"]
    if not isinstance(section, Mapping):
        raise AuthConfigError(f"{where}: [auth] must be a table")
    providers = {k: v for k, v in section.items() if isinstance(v, Mapping) and k != "client_kwargs"}
    for key in section:
        if key not in _KNOWN_KEYS and key not in providers:
            raise AuthConfigError(
                f"{where}: unknown key {key!r} in [auth] (known: {', '.join(_KNOWN_KEYS)}, or [auth.NAME] providers)"
            )
    if "open" in section:
        if section["open"] is not True:
            raise AuthConfigError(f"{where}: [auth] open must be true (or absent)")
        if len(section) > 1:
            raise AuthConfigError(f"{where}: [auth] open = true cannot be combined with other [auth] keys")
        return AuthConfig(mode="off", files=(where,))
    oidc_keys = [k for k in (*_OIDC_SHARED, *_OIDC_PROVIDER, *_OIDC_OPTIONAL) if k in section]
    if "password" in section:
        if oidc_keys or providers:
            raise AuthConfigError(f"{where}: [auth] has both a password and OIDC keys; configure one of them")
        password = section["password"]
        if not isinstance(password, str):
            raise AuthConfigError(f"{where}: [auth] password must be a string, not {type(password).__name__}")
        if not password.strip():
            raise AuthConfigError(f"{where}: [auth] password is empty")
        return AuthConfig(mode="password", password=password, files=(where,))
    if not oidc_keys and not providers:
        raise AuthConfigError(f"{where}: [auth] sets neither password nor OIDC sign-in")
    for key in _OIDC_SHARED:
        if not _nonempty_str(section, key):
            raise AuthConfigError(f"{where}: OIDC sign-in needs a non-empty [auth] {key}")
    if not section["redirect_uri"].rstrip().endswith("/oauth2callback"):
        raise AuthConfigError(f"{where}: [auth] redirect_uri must end with /oauth2callback")
    names: list[str | None] = []
    if any(k in section for k in _OIDC_PROVIDER):
        missing = [k for k in _OIDC_PROVIDER if not _nonempty_str(section, k)]
        if missing:
            raise AuthConfigError(f"{where}: the [auth] provider needs a non-empty {', '.join(missing)}")
        names.append(None)
    for name, table in providers.items():
        if "_" in name:  # st.login refuses such names
            raise AuthConfigError(f"{where}: provider [auth.{name}]: names may not contain an underscore")
        missing = [k for k in _OIDC_PROVIDER if not _nonempty_str(table, k)]
        if missing:
            raise AuthConfigError(f"{where}: [auth.{name}] needs a non-empty {', '.join(missing)}")
        names.append(name)
    if not names:
        raise AuthConfigError(
            f"{where}: OIDC sign-in needs client_id, client_secret and server_metadata_url in [auth] "
            "or in an [auth.NAME] provider"
        )
    if not authlib_installed():
        raise AuthConfigError(f"{where}: OIDC sign-in needs the Authlib package: pip install 'Authlib>=1.3.2'")
    return AuthConfig(mode="oidc", providers=tuple(names), files=(where,))


def load_auth(paths: Iterable[str]) -> AuthConfig:
    """The gate for this run: ``mode="off"`` when no secrets file exists, :class:`AuthConfigError`
    when one exists and does not configure the gate correctly."""
    merged, origin, found = read_secrets(paths)
    if not found:
        return AuthConfig()
    where = origin.get("auth") or " and ".join(found)
    return parse_auth(merged, where=where)


# -- the shared password ------------------------------------------------------------------------------

# Per server process: a session marked with a password's fingerprint stays in only while that password
# is configured, so changing the password signs every session out.
_FINGERPRINT_KEY = _random.token_bytes(32)


def password_ok(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def password_fingerprint(password: str) -> str:
    return hmac.new(_FINGERPRINT_KEY, password.encode(), hashlib.sha256).hexdigest()


def client_address(ip_address: str | None, headers: Mapping[str, str]) -> str:
    """The address to throttle. Streamlit reports a loopback peer as None: that is a reverse proxy on
    this host (or a local user), so the proxy's X-Real-IP / X-Forwarded-For names the client. A remote
    peer's own headers are not trusted, since anyone can send them."""
    if ip_address:
        return ip_address
    lowered = {k.lower(): v for k, v in headers.items()}
    real = lowered.get("x-real-ip", "").strip()
    if real:
        return real
    # The nearest proxy appends the address it saw: the last entry is the only one it vouches for.
    forwarded = [a.strip() for a in lowered.get("x-forwarded-for", "").split(",") if a.strip()]
    return forwarded[-1] if forwarded else "local"


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    """Wrong-password throttle, shared by every session of the server process and thread-safe.

    Each key (a client address, a session id) gets ``free_failures`` wrong passwords, then every further
    one locks it for ``base_delay`` seconds, doubling up to ``max_delay``. An attempt while locked is
    refused without checking the password, and nothing sleeps: a locked client cannot hold a server
    thread. A key's count is forgotten ``forget_after`` seconds after its last failure and on success.
    """

    def __init__(
        self,
        *,
        free_failures: int = 3,
        base_delay: float = 2.0,
        max_delay: float = 900.0,
        forget_after: float = 3600.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, _Failures] = {}

    def _live(self, key: str, now: float) -> _Failures | None:
        entry = self._state.get(key)
        if entry is not None and now >= entry.locked_until and now - entry.last > self.forget_after:
            del self._state[key]
            return None
        return entry

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until any of ``keys`` may try again; 0 when none is locked."""
        with self._lock:
            now = self._clock()
            waits = [e.locked_until - now for k in keys if (e := self._live(k, now)) is not None]
            return max([0.0, *waits])

    def failure(self, keys: Iterable[str]) -> tuple[int, float]:
        """Count a wrong password against every key; returns the highest count and the lockout it set."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            worst, lock = 0, 0.0
            for key in keys:
                entry = self._live(key, now) or self._state.setdefault(key, _Failures())
                entry.count += 1
                entry.last = now
                over = entry.count - self.free_failures
                if over > 0:
                    delay = min(self.base_delay * 2 ** (over - 1), self.max_delay)
                    entry.locked_until = max(entry.locked_until, now + delay)
                worst = max(worst, entry.count)
                lock = max(lock, entry.locked_until - now)
            return worst, lock

    def success(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._state.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._state.clear()

    def _prune(self, now: float) -> None:
        """Bounded memory however many addresses try: drop forgotten keys, then unlocked ones oldest
        first, and only then (a flood of locked addresses) the lockouts nearest their end."""
        if len(self._state) < self.max_keys:
            return
        for key in list(self._state):
            self._live(key, now)
        excess = len(self._state) - self.max_keys + 1
        if excess <= 0:
            return
        order = sorted(
            self._state,
            key=lambda k: (self._state[k].locked_until > now, self._state[k].locked_until, self._state[k].last),
        )
        for key in order[:excess]:
            del self._state[key]


THROTTLE = LoginThrottle()


def throttle_keys(client: str, session_id: str) -> tuple[str, str]:
    return f"client:{client}", f"session:{session_id}"


@dataclass(frozen=True)
class Attempt:
    """The outcome of one password attempt. ``checked`` is False when a lockout refused it unseen: the
    answer must then not depend on the password, or the lockout would still tell a right guess."""

    accepted: bool
    checked: bool
    retry_after: float = 0.0


def check_password(
    given: str, expected: str, *, client: str, session_id: str, throttle: LoginThrottle = THROTTLE
) -> Attempt:
    """Check a password attempt through the throttle and log the outcome (never the password; the session
    id shortened, it is no credential but need not sit in full in logs): a locked
    client or session is refused without a check; a wrong password may lock it for the next attempt."""
    keys = throttle_keys(client, session_id)
    wait = throttle.retry_after(keys)
    if wait > 0:
        log.warning(
            "password attempt refused (locked %.0f s more): client %s, session %s", wait, client, session_id[:8]
        )
        return Attempt(accepted=False, checked=False, retry_after=wait)
    if password_ok(given, expected):
        throttle.success(keys)
        log.info("team password accepted: client %s, session %s", client, session_id[:8])
        return Attempt(accepted=True, checked=True)
    count, lock = throttle.failure(keys)
    log.warning(
        "wrong team password: client %s, session %s, failure %d, locked for %.0f s", client, session_id[:8], count, lock
    )
    return Attempt(accepted=False, checked=True, retry_after=lock)


# -- identities and roles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """What one session is: who (for the audit log and job table), whether an identity provider vouches
    for that, and whether it may change anything."""

    identity: str
    signed_in: bool
    can_edit: bool
    self_declared: bool
    why_read_only: str = ""

    @property
    def role(self) -> str:
        return "editor" if self.can_edit else "viewer: read-only"


def decide_access(mode: Mode, user: Mapping[str, Any] | None, typed_name: str, config: ServerConfig) -> Access:
    """The role decision, from the gate's mode, ``st.user`` as a mapping, the name typed in the sidebar
    and the server config.

    With OIDC only the provider's word counts: the identity is the account's email (else name, else
    subject), and a session edits only when its verified email is in ``[access] editors`` (matched on
    the email alone: a display name is whatever the person typed at the provider). Without OIDC
    ``st.user`` is ignored (no provider signed it), the typed name is self-declared, and every session
    edits unless ``[access] read_only`` is set.
    """
    if mode == "oidc":
        info = user or {}
        signed_in = bool(info.get("is_logged_in"))
        email = str(info.get("email") or "").strip()
        who = email or str(info.get("name") or info.get("sub") or "").strip()
        verified = info.get("email_verified") is not False
        can_edit = signed_in and verified and bool(email) and email.lower() in config.editors
        why = ""
        if not signed_in:
            why = "not signed in"
        elif not config.editors:
            why = "no editors are configured ([access] editors in restudio.toml)"
        elif not can_edit:
            why = "not listed in [access] editors" if verified else "the provider has not verified this email"
        who = who if signed_in else ""
        return Access(identity=who, signed_in=signed_in, can_edit=can_edit, self_declared=False, why_read_only=why)
    read_only = config.read_only
    return Access(
        identity=typed_name.strip(),
        signed_in=False,
        can_edit=not read_only,
        self_declared=True,
        why_read_only="this server is read-only ([access] read_only)" if read_only else "",
    )
