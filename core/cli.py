"""The RE Studio command line: the same functions the views call, headless.

Every feature package adds its sub-commands through its own ``commands`` module (see
:mod:`core.common.commands`); this module only puts them together and turns errors into exit statuses:
0 on success, 2 with a one-line message when the input or request cannot be done as asked (a
:class:`core.common.errors.RestudioError`, or a ``ValueError`` / ``OSError`` such as a missing file; never a
traceback), and 1 on an unexpected error (``RESTUDIO_DEBUG=1`` shows its traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from core.common.errors import RestudioError
from core.common.settings import Settings

#: The ``commands`` modules whose ``register(sub)`` adds sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "core.data.commands",
    "core.train.commands",
    "core.analysis.commands",
    "core.evaluate.commands",
    "core.jobs.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="RE Studio command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `python -m core audit ... | head` is fine
        return 0
    except (RestudioError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        try:
            debug = Settings.from_env().debug
        except RestudioError:  # another variable's bad value must not hide this error
            debug = False
        if debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set RESTUDIO_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
