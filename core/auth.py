"""The optional shared-password gate for serving RE Studio to a team.

Off by default. Put ``password = "..."`` under ``[auth]`` in ``.streamlit/secrets.toml``
to turn it on; the comparison is constant-time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any


def configured_password(secrets: Mapping[str, Any]) -> str | None:
    """The password from ``[auth] password`` in the secrets, or None when the gate is off."""
    section = secrets.get("auth") or {}
    password = section.get("password") if isinstance(section, Mapping) else None
    return str(password) if password else None


def password_ok(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
