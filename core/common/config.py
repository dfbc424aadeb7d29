"""Server configuration for serving RE Studio to a team: who may edit, which Ray clusters jobs may go
to, whether hub models may be downloaded, and the job-queue caps.

Read from ``restudio.toml`` next to ``app.py`` (or the file named by ``RESTUDIO_CONFIG``) on every run;
``restudio.example.toml`` documents every key. Every key is optional; a missing file means a single-user
workstation: everyone edits, no Ray cluster is offered, hub downloads are allowed. A file that exists but
cannot be read, does not parse, or holds an unknown key or a value of the wrong type raises
:class:`ConfigError` naming the file and the key, so a broken file never silently loosens anything (the
app shows the error instead of itself).

``[access] editors`` only counts with OIDC sign-in, where the provider vouches for each email (see
``core.serve.auth.decide_access``); without it names are self-declared, and ``[access] read_only`` makes every
session read-only.

Example::

    [access]
    editors = ["ana@lab.example", "min@lab.example"]  # with OIDC sign-in: everyone else views read-only
    read_only = false                                 # without sign-in: true makes every session read-only

    [models]
    allow_hub_download = false  # local folders and the Hugging Face cache only

    [ray.clusters]
    gpu-a = "http://10.0.0.5:8265"

    [limits]
    max_queued_per_user = 4
    max_queued_total = 16
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.common.errors import RestudioError

ROOT = Path(__file__).resolve().parents[2]


class ConfigError(RestudioError, ValueError):
    """The server configuration file exists but is not valid; the message names the file and key."""


@dataclass(frozen=True)
class ServerConfig:
    """What the server's operator allows. Defaults are a single-user workstation's."""

    editors: frozenset[str] = frozenset()
    read_only: bool = False
    allow_hub_download: bool = True
    ray_clusters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    max_queued_per_user: int = 8
    max_queued_total: int = 32
    path: str | None = None


def config_path() -> Path:
    # Imported here: settings raises this module's ConfigError.
    from core.common.settings import Settings

    return Path(Settings.from_env().config_file or ROOT / "restudio.toml")


def _get(table: Mapping[str, Any], key: str, kind: type, default: Any, *, where: str, path: Path) -> Any:
    if key not in table:
        return default
    value = table[key]
    # bool is an int subclass: a `true` must not pass as a count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: [{where}] {key} must be {kind.__name__}, not {type(value).__name__}")
    return value


def parse_server_config(data: Mapping[str, Any], *, path: Path) -> ServerConfig:
    """Validate an already-parsed TOML table; unknown sections and keys are refused (a typo must not
    silently fall back to a looser default)."""
    known = {
        "access": {"editors", "read_only"},
        "models": {"allow_hub_download"},
        "ray": {"clusters"},
        "limits": {"max_queued_per_user", "max_queued_total"},
    }
    for section, table in data.items():
        if section not in known:
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(sorted(known))})")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key in table:
            if key not in known[section]:
                allowed = ", ".join(sorted(known[section]))
                raise ConfigError(f"{path}: unknown key {key!r} in [{section}] (known: {allowed})")
    access = data.get("access", {})
    editors = _get(access, "editors", list, [], where="access", path=path)
    if not all(isinstance(e, str) and e.strip() for e in editors):
        raise ConfigError(f"{path}: [access] editors must be a list of non-empty strings")
    ray = data.get("ray", {})
    clusters = _get(ray, "clusters", Mapping, {}, where="ray", path=path)
    for name, address in clusters.items():
        if not isinstance(address, str) or not address.startswith(("http://", "https://", "ray://")):
            raise ConfigError(f"{path}: [ray.clusters] {name} must be an http://, https:// or ray:// address")
    limits = data.get("limits", {})
    per_user = _get(limits, "max_queued_per_user", int, ServerConfig.max_queued_per_user, where="limits", path=path)
    total = _get(limits, "max_queued_total", int, ServerConfig.max_queued_total, where="limits", path=path)
    if per_user < 1 or total < 1:
        raise ConfigError(f"{path}: [limits] caps must be at least 1")
    return ServerConfig(
        editors=frozenset(e.strip().lower() for e in editors),
        read_only=_get(access, "read_only", bool, False, where="access", path=path),
        allow_hub_download=_get(data.get("models", {}), "allow_hub_download", bool, True, where="models", path=path),
        ray_clusters=MappingProxyType(dict(clusters)),
        max_queued_per_user=per_user,
        max_queued_total=total,
        path=str(path),
    )


def load_server_config(path: Path | None = None) -> ServerConfig:
    """The server configuration; defaults when the file does not exist, :class:`ConfigError` when it
    exists and is not valid."""
    path = path or config_path()
    if not path.exists():
        return ServerConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:  # a folder, or no permission: still the operator's file, still not loosening anything
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_server_config(data, path=path)
