"""Label maps: reading ``dict_label_to_num`` / ``dict_num_to_label`` files (JSON or pickle) safely.

This module owns the safe unpickler (it refuses every global, so a hostile pickle runs nothing), the
normalisation of either direction to a name -> number dict numbered exactly 0..n-1, and the label order
such a map gives a schema. It is separate because it is the data package's only contact with pickle, a
security boundary worth reading on its own, and because label maps are a file kind of their own, used by
:func:`core.data.loading.load_file` and by imports.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.common.schema import DataError
from core.data.readers import check_file, decode, display, is_int, too_deep


def label_map_order(label_map: Mapping[str, int]) -> tuple[str, ...]:
    return tuple(sorted(label_map, key=label_map.__getitem__))


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global (a class or a function): refused before anything is built."""


class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global, so nothing in the file can name code to run.

    Plain dicts, lists, tuples, strings and numbers are built by pickle opcodes that need no global;
    everything else (classes, functions such as ``os.system`` reached through ``__reduce__``) must
    be looked up through :meth:`find_class`, which refuses. Written by hand because safety demands
    it and the standard library offers exactly this hook for it.
    """

    def find_class(self, module: str, name: str) -> Any:
        raise _RefusedGlobal(f"it refers to {module}.{name}")


def normalise_label_map(obj: object, name: str) -> dict[str, int]:
    """A name -> number dict from either direction, numbered exactly 0..n-1."""
    if not isinstance(obj, dict) or not obj:
        raise DataError(
            f"{name} holds {type(obj).__name__ if obj else 'nothing'}, not a dict of label names and numbers."
        )

    def as_number(key: object) -> int | None:
        if is_int(key):
            return int(key)
        if isinstance(key, str) and key.strip().lstrip("-").isdigit():
            return int(key)
        return None

    if all(isinstance(k, str) and is_int(v) for k, v in obj.items()):
        mapping = {k: int(v) for k, v in obj.items()}
    elif all(as_number(k) is not None and isinstance(v, str) for k, v in obj.items()):
        mapping = {}
        for key, label in obj.items():
            if label in mapping:
                raise DataError(f"{name} gives the label {label!r} two numbers.")
            mapping[label] = as_number(key)
    else:
        raise DataError(
            f"{name} must map label names to numbers (dict_label_to_num) or numbers to names (dict_num_to_label)."
        )
    numbers = sorted(mapping.values())
    if numbers != list(range(len(mapping))):
        raise DataError(
            f"{name} must number its {len(mapping)} labels 0..{len(mapping) - 1}, each once; "
            f"it uses {numbers[:10]}{' ...' if len(numbers) > 10 else ''}."
        )
    return mapping


def load_label_map(path: str | os.PathLike[str], *, display_name: str | None = None) -> dict[str, int]:
    """Read a label map (name -> number) from JSON or from a pickled dict, safely.

    Accepts ``dict_label_to_num`` (name -> number) or ``dict_num_to_label`` (number -> name, inverted
    here). Pickles go through an unpickler that refuses every global, so a malicious file raises
    :class:`DataError` without running anything. The numbers must be exactly 0..n-1.
    """
    p = Path(path)
    name = display(path, display_name)
    check_file(p, name)
    raw = p.read_bytes()
    is_pickle = p.suffix.lower() in (".pkl", ".pickle") or raw[:1] == b"\x80"
    if is_pickle:
        try:
            obj = _PlainDataUnpickler(io.BytesIO(raw)).load()
        except _RefusedGlobal as exc:
            raise DataError(
                f"{name} is not a plain pickled dict ({exc}); only dicts of label names and numbers are "
                "accepted, and nothing in the file was run."
            ) from None
        except Exception as exc:  # a corrupt pickle can fail in many ways
            raise DataError(f"{name} is not a readable pickle file ({type(exc).__name__}: {exc}).") from None
    else:
        try:
            obj = json.loads(decode(raw, p, name, None))
        except json.JSONDecodeError as exc:
            raise DataError(f"{name} is neither JSON nor a pickle ({exc.msg} at line {exc.lineno}).") from None
        except RecursionError:
            raise too_deep(name, decode(raw, p, name, None)) from None
    return normalise_label_map(obj, name)
