"""How a feature package adds its sub-commands to ``python -m core``.

Each package that has commands keeps them in its own ``commands`` module with one function,
``register(sub)``, that adds its sub-parsers to the top-level ``argparse`` sub-parsers object and sets
``func`` on each (the handler, taking the parsed ``argparse.Namespace`` and returning the exit status).
:mod:`core.cli` calls every package's ``register`` in turn, so a new command is a change in its own package.

Building the parser must stay cheap (``python -m core --help`` answers in well under a second): a
``commands`` module imports only the standard library and light ``core`` modules at the top, and its
handlers import the feature code (pandas, torch, transformers, scikit-learn) when they run.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.common.schema import SCHEMAS

Handler = Callable[[argparse.Namespace], int]


def add_command(sub: Any, name: str, func: Handler, help_: str, **kwargs: Any) -> argparse.ArgumentParser:
    """Add sub-command ``name`` (its help line also its description unless given) handled by ``func``."""
    kwargs.setdefault("description", help_)
    parser = sub.add_parser(name, help=help_, **kwargs)
    parser.set_defaults(func=func)
    return parser


def add_home(parser: argparse.ArgumentParser) -> None:
    """``--home``: the workspace folder."""
    parser.add_argument("--home", default=None, help="workspace folder (default: $RESTUDIO_HOME or ./workspace)")


def add_reading(parser: argparse.ArgumentParser) -> None:
    """How to read a dataset file: its format, label set and encoding."""
    parser.add_argument("--format", default="auto", choices=["auto", "csv", "klue-json", "tacred-json"])
    parser.add_argument("--schema", default="klue", choices=sorted(SCHEMAS), help="label set and entity types")
    parser.add_argument("--encoding", default=None, help="file encoding when not UTF-8 (e.g. cp949)")
