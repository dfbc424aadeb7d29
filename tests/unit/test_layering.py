"""The package layering of ``core``, read from the source (AST): ``core`` never imports Streamlit, and a
package imports only packages below it. Lazy imports inside functions count too: a cycle hidden in a function
is still a cycle for the reader.

Order, bottom to top (the README's module map says what each owns)::

    common < store < data < jobs < train < analysis < evaluate < serve < core/cli.py, core/__main__.py
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
LAYERS = ("common", "store", "data", "jobs", "train", "analysis", "evaluate", "serve")
#: Modules at the top of ``core`` itself: they may import any package.
TOP = {"cli", "__main__", "__init__"}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every absolute module name ``source`` imports, with its line, at any depth (functions included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"line {node.lineno}: relative import; core uses absolute imports")
            if node.module == "core":
                found += [(node.lineno, f"core.{alias.name}") for alias in node.names]
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def layer_violations(root: Path) -> list[str]:
    """One line per forbidden import under ``root`` (a ``core`` folder)."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        own = rel.parts[0] if len(rel.parts) > 1 else None
        if own is None and path.stem not in TOP:
            problems.append(f"{rel}: a module at the top of core outside {sorted(TOP)}; put it in a package")
            continue
        if own is not None and own not in LAYERS:
            problems.append(f"{rel}: package {own!r} is not in the layer order {LAYERS}")
            continue
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            top = module.split(".")[0]
            if top == "streamlit":
                problems.append(f"{rel}:{line}: imports {module}; core stays importable without Streamlit")
            if top != "core" or own is None:
                continue
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else None
            if target not in LAYERS:
                problems.append(f"{rel}:{line}: imports {module}, which is above every package")
            elif LAYERS.index(target) > LAYERS.index(own):
                problems.append(f"{rel}:{line}: {own} imports {module}, a higher package")
    return problems


def test_core_imports_no_streamlit_and_no_higher_package() -> None:
    assert layer_violations(CORE) == []


def test_the_check_catches_each_kind_of_forbidden_import(tmp_path: Path) -> None:
    root = tmp_path / "core"
    for pkg in ("common", "store", "train"):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "cli.py").write_text("from core.train import training\n")
    (root / "store" / "ok.py").write_text("from core.common import schema\nimport core.common.atomic\n")
    (root / "store" / "up.py").write_text("def f():\n    from core.train import training\n")
    (root / "store" / "up2.py").write_text("from core import cli\n")
    (root / "common" / "ui.py").write_text("import streamlit as st\n")
    (root / "loose.py").write_text("")
    assert layer_violations(root) == [
        "common/ui.py:1: imports streamlit; core stays importable without Streamlit",
        "loose.py: a module at the top of core outside ['__init__', '__main__', 'cli']; put it in a package",
        "store/up.py:2: store imports core.train, a higher package",
        "store/up2.py:1: imports core.cli, which is above every package",
    ]
