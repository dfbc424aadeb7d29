"""The search space of a hyperparameter sweep: which training options vary, and over what.

A space file (YAML or JSON) maps a :class:`core.train.config.TrainConfig` option to either

- a range, ``{low: .., high: .., log: true|false, step: ..}``: whole-number bounds make an integer range, any
  decimal bound a float range (``1.0e-4``, not ``1e-4``, which YAML reads as text); ``log`` samples on a log
  scale (bounds above 0), ``step`` a grid; or
- a list of choices: ``[16, 32]``, ``[linear, cosine]``, ``[true, false]``.

For example::

    lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    warmup_ratio: {low: 0.0, high: 0.2}
    scheduler: [linear, cosine]
    batch_size: [16, 32, 64]
    epochs: {low: 2, high: 6}

Every bound and choice is checked as that option's value, with the same checks a training config gets, before
anything runs, so a space that names an unknown option (with the closest known one), a text option given a range,
``low`` not below ``high`` or a choice the option refuses is one :class:`~core.train.config.ConfigError` naming
the file and the option. The data options (dataset, split, workspace, labels, folds) are the sweep's base config's
and cannot vary.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.train.config import ConfigError, TrainConfig, _coerce, check_values, model_problems, resolve

#: Options a sweep keeps from its base config: they choose the data, and trials must score on the same dev rows.
FIXED_OPTIONS: frozenset[str] = frozenset(
    {"dataset", "split", "workspace", "labels", "folds", "fold", "fold_seed", "report_to", "cpu_threads", "num_workers"}
)
_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


@dataclass(frozen=True)
class Dimension:
    """One option's range or choices. ``kind`` is ``int``, ``float`` or ``choice``."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def to_spec(self) -> Any:
        """The space-file form of this dimension (what :func:`parse_space` reads back)."""
        if self.kind == "choice":
            return list(self.choices)
        spec: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec

    @classmethod
    def from_spec(cls, name: str, spec: Any) -> Dimension:
        """A dimension from its :meth:`to_spec` form, as stored with a sweep (checked when the sweep was made)."""
        if isinstance(spec, list | tuple):
            return cls(name, "choice", choices=tuple(spec))
        is_int = all(isinstance(spec.get(k), int) for k in ("low", "high"))
        return cls(
            name,
            "int" if is_int else "float",
            low=spec["low"],
            high=spec["high"],
            log=bool(spec.get("log")),
            step=spec.get("step"),
        )

    def describe(self) -> str:
        if self.kind == "choice":
            return " | ".join(str(c) for c in self.choices)
        scale = ", log" if self.log else ""
        step = f", step {self.step:g}" if self.step is not None else ""
        return f"{self.kind} {self.low:g} .. {self.high:g}{scale}{step}"


def load_space(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw mapping of a space file (YAML or JSON); :class:`ConfigError` naming the file when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the search space ({exc.strerror or exc}).") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
        return space_mapping(data, source=str(path))
    return space_mapping(text, source=str(path))


def text_mapping(text: Mapping[str, Any] | str | None, *, source: str) -> dict[str, Any]:
    """``text`` itself when it is a mapping, else the mapping its YAML holds (``{}`` for blank text); anything else
    is a :class:`ConfigError` naming ``source`` (the Train view's text boxes, a space file)."""
    import yaml

    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    data: Any = text
    if isinstance(text, str):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: write one option per line, as option: value.")
    return dict(data)


def space_mapping(space: Mapping[str, Any] | str, *, source: str = "search space") -> dict[str, Any]:
    """A space as a mapping: ``space`` itself, or the mapping its YAML text holds (the Train view's text box)."""
    data = text_mapping(space, source=source)
    if not data:
        raise ConfigError(f"{source}: a search space maps training options to a range or a list of choices.")
    return data


def parse_space(
    raw: Mapping[str, Any], *, base: TrainConfig | Mapping[str, Any] | None = None, source: str = "search space"
) -> dict[str, Dimension]:
    """The checked dimensions of a raw space mapping, in its order.

    Parameters
    ----------
    raw
        Option name -> range mapping or list of choices (see the module docstring).
    base
        The sweep's base config: each bound and choice is checked with the rest of the options at their base values.
    source
        What the messages name (the space file's path).
    """
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{source}: a search space maps training options to a range or a list of choices.")
    base_cfg = resolve(base if base is not None else {})
    dims: dict[str, Dimension] = {}
    problems: list[str] = []
    for name, spec in raw.items():
        try:
            dims[str(name)] = _dimension(str(name), spec, base_cfg)
        except ConfigError as exc:
            problems.append(str(exc).rstrip("."))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems) + ".")
    return dims


def _dimension(name: str, spec: Any, base: TrainConfig) -> Dimension:
    if name not in _FIELDS:
        close = difflib.get_close_matches(name, list(_FIELDS), n=1)
        raise ConfigError(f"unknown option {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if name in FIXED_OPTIONS:
        raise ConfigError(f"{name} is fixed by the base config and cannot vary in a sweep")
    default = _FIELDS[name].default
    if isinstance(spec, list | tuple):
        if not spec:
            raise ConfigError(f"{name}: the list of choices is empty")
        choices = tuple(_checked(name, value, base) for value in spec)
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{name}: a choice is listed twice")
        return Dimension(name, "choice", choices=choices)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{name}: give a range {{low: .., high: ..}} or a list of choices, not {spec!r}")
    unknown = set(spec) - {"low", "high", "log", "step"}
    if unknown:
        raise ConfigError(f"{name}: unknown range key {', '.join(map(repr, sorted(unknown)))} (low, high, log, step)")
    if isinstance(default, bool) or not isinstance(default, int | float):
        raise ConfigError(f"{name} is not a number: list its choices instead of a range")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{name}: a range needs both low and high")
    low, high, step = spec["low"], spec["high"], spec.get("step")
    for key, value in (("low", low), ("high", high), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{name}: {key} must be a number, got {value!r} (write 1.0e-4, not 1e-4, in YAML)")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{name}: log must be true or false, got {log!r}")
    is_int = all(isinstance(v, int) for v in (low, high) + ((step,) if step is not None else ()))
    kind = "int" if is_int else "float"  # the bounds' type decides; an int range of a float option gives 2.0, 3.0
    if kind == "float" and isinstance(default, int):
        raise ConfigError(f"{name} is a whole number: give whole-number bounds, got {low!r} .. {high!r}")
    if not low < high:
        raise ConfigError(f"{name}: low ({low!r}) must be below high ({high!r})")
    if log and low <= 0:
        raise ConfigError(f"{name}: a log range needs low above 0, got {low!r}")
    if log and step is not None:
        raise ConfigError(f"{name}: a range takes log or step, not both")
    if step is not None and step <= 0:
        raise ConfigError(f"{name}: step must be above 0, got {step!r}")
    _checked(name, low, base)
    _checked(name, high, base)
    return Dimension(name, kind, low=low, high=high, log=log, step=step)


def _checked(name: str, value: Any, base: TrainConfig) -> Any:
    """``value`` as option ``name``'s type, refused as a training config would refuse it."""
    coerced = _coerce(name, value)
    if name == "model":
        mine = model_problems(coerced, base.max_length)
    else:
        # The base model was checked with the base config; checking it again per value could ask the hub each time.
        model = base.model if name == "max_length" else "tiny"
        problems = check_values(dataclasses.replace(base, model=model, **{name: coerced}))
        mine = [p for p in problems if p.startswith(f"{name} ")]
    if mine:
        raise ConfigError(f"{name} = {value!r}: {mine[0]}")
    return coerced


def distributions(dims: Mapping[str, Dimension]) -> dict[str, Any]:
    """Optuna distributions of the dimensions (for ``study.ask``)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, dim in dims.items():
        if dim.kind == "choice":
            out[name] = CategoricalDistribution(list(dim.choices))
        elif dim.kind == "int":
            out[name] = IntDistribution(int(dim.low), int(dim.high), log=dim.log, step=int(dim.step or 1))
        else:
            out[name] = FloatDistribution(float(dim.low), float(dim.high), log=dim.log, step=dim.step)
    return out


def contains(dim: Dimension, value: Any) -> bool:
    """Whether ``value`` is a point of the dimension (the base config's value, to try it as the first trial)."""
    if dim.kind == "choice":
        return value in dim.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not dim.low <= value <= dim.high:
        return False
    if dim.kind == "int" and float(value) != int(value):
        return False
    if dim.step is not None:
        k = (value - dim.low) / dim.step
        return abs(k - round(k)) < 1e-9
    return True
