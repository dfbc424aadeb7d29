"""Calibration: does a row predicted with confidence 0.8 turn out right 80 % of the time?

- :func:`reliability`: the reliability diagram's data (equal-width confidence bins: mean confidence,
  accuracy and count of each) and the expected calibration error, ECE = sum over bins of
  ``count / n * |accuracy - confidence|`` (Guo, Pleiss, Sun and Weinberger, "On calibration of modern
  neural networks", ICML 2017). Confidence is the top probability, "right" is argmax == gold.
- :func:`fit_temperature`: temperature scaling (same paper): probabilities ``softmax(log p / T)``, with the
  one ``T`` that minimises the negative log-likelihood, found by ``scipy.optimize.minimize_scalar`` over
  ``log T`` (bounded). Dividing log-probabilities by ``T`` keeps each row's order, so predictions and
  micro-F1 do not change; AUPRC can (the order across rows moves).
- :func:`temperature_study`: ``T`` fitted on one seeded half of the rows, ECE and NLL checked on the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Bins of the reliability diagram unless asked otherwise.
DEFAULT_BINS = 15
#: Temperatures searched by :func:`fit_temperature` (a fitted T outside this range means a broken model).
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Floor under a probability before its log (a file can hold exact zeros).
_TINY = 1e-12


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin: its bounds, the mean confidence and the accuracy (0..1) of its rows, and how many."""

    lower: float
    upper: float
    confidence: float | None
    accuracy: float | None
    count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reliability:
    """The reliability diagram (every bin, empty ones with ``None`` means) and the ECE (0..1)."""

    bins: tuple[ReliabilityBin, ...]
    ece: float

    def to_dict(self) -> dict[str, Any]:
        return {"ece": self.ece, "bins": [b.to_dict() for b in self.bins]}


def reliability(gold: npt.ArrayLike, probs: npt.ArrayLike, *, bins: int = DEFAULT_BINS) -> Reliability:
    """Reliability-diagram data and ECE of argmax predictions, over ``bins`` equal-width confidence bins.

    A confidence of exactly 1 falls in the last bin; bin ``i`` holds ``i / bins <= confidence < (i + 1) / bins``.
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != g.size or g.size == 0:
        raise ValueError(f"probs must have shape ({g.size}, n_classes) with at least one row; got {p.shape}.")
    if bins < 1:
        raise ValueError(f"bins must be at least 1; got {bins}.")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == g).astype(np.float64)
    which = np.clip((confidence * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    hit_sum = np.bincount(which, weights=correct, minlength=bins)
    filled = count > 0
    mean_conf = np.divide(conf_sum, count, out=np.zeros(bins), where=filled)
    accuracy = np.divide(hit_sum, count, out=np.zeros(bins), where=filled)
    ece = float(np.sum(count / g.size * np.abs(accuracy - mean_conf)))
    return Reliability(
        bins=tuple(
            ReliabilityBin(
                lower=i / bins,
                upper=(i + 1) / bins,
                confidence=float(mean_conf[i]) if filled[i] else None,
                accuracy=float(accuracy[i]) if filled[i] else None,
                count=int(count[i]),
            )
            for i in range(bins)
        ),
        ece=ece,
    )


def _log_probs(probs: npt.ArrayLike) -> np.ndarray:
    return np.log(np.maximum(np.asarray(probs, dtype=np.float64), _TINY))


def apply_temperature(probs: npt.ArrayLike, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row (T > 0); T = 1 gives back ``p`` up to the floor on zeros."""
    from scipy.special import softmax

    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}.")
    return softmax(_log_probs(probs) / temperature, axis=1)


def nll(gold: npt.ArrayLike, probs: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of the gold labels (natural log; zeros floored at 1e-12)."""
    g = np.asarray(gold).astype(np.int64, copy=False)
    return float(-np.mean(_log_probs(probs)[np.arange(g.size), g]))


def fit_temperature(gold: npt.ArrayLike, probs: npt.ArrayLike) -> float:
    """The temperature that minimises the NLL of ``softmax(log p / T)`` on these rows.

    A 1-D bounded search (``scipy.optimize.minimize_scalar``, method ``bounded``) over ``log T`` in
    :data:`TEMPERATURE_BOUNDS`; the NLL is convex in ``1 / T``, so the minimum is the one minimum.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    g = np.asarray(gold).astype(np.int64, copy=False)
    logp = _log_probs(probs)
    if logp.ndim != 2 or logp.shape[0] != g.size or g.size == 0:
        raise ValueError(f"probs must have shape ({g.size}, n_classes) with at least one row; got {logp.shape}.")
    picked = logp[np.arange(g.size), g]

    def loss(log_t: float) -> float:
        scaled = logp / np.exp(log_t)
        return float(np.mean(logsumexp(scaled, axis=1) - picked / np.exp(log_t)))

    lo, hi = np.log(TEMPERATURE_BOUNDS[0]), np.log(TEMPERATURE_BOUNDS[1])
    result = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


@dataclass(frozen=True)
class TemperatureStudy:
    """Temperature scaling fitted on one half (``seed``) and checked on the other: ECE (0..1) and NLL there."""

    temperature: float
    seed: int
    heldout_rows: int
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def temperature_study(
    gold: npt.ArrayLike, probs: npt.ArrayLike, *, seed: int = 0, bins: int = DEFAULT_BINS
) -> TemperatureStudy:
    """Fit the temperature on a seeded half of the rows; ECE and NLL before and after on the other half."""
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(probs, dtype=np.float64)
    n = g.size
    if n < 4:
        raise ValueError(f"{n} rows are too few to split in a fitting half and a held-out half.")
    perm = np.random.default_rng(seed).permutation(n)
    fit_rows, held = np.sort(perm[: n // 2]), np.sort(perm[n // 2 :])
    t = fit_temperature(g[fit_rows], p[fit_rows])
    scaled = apply_temperature(p[held], t)
    return TemperatureStudy(
        temperature=t,
        seed=int(seed),
        heldout_rows=int(held.size),
        ece_before=reliability(g[held], p[held], bins=bins).ece,
        ece_after=reliability(g[held], scaled, bins=bins).ece,
        nll_before=nll(g[held], p[held]),
        nll_after=nll(g[held], scaled),
    )


__all__ = [
    "DEFAULT_BINS",
    "TEMPERATURE_BOUNDS",
    "Reliability",
    "ReliabilityBin",
    "TemperatureStudy",
    "apply_temperature",
    "fit_temperature",
    "nll",
    "reliability",
    "temperature_study",
]
