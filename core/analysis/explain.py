"""Why a model predicts what it does on one example: probabilities, attention maps and attributions.

LIT-style: a loaded model (:class:`~core.analysis.explain_load.Explainer`) and one
:class:`~core.analysis.explain_encoding.Example` go into an interpreter (:data:`INTERPRETERS`); frozen
dataclasses come out (:class:`Explanation`, :class:`~core.analysis.attributions.Prediction`,
:class:`~core.analysis.attributions.Attribution`), each with ``to_dict()`` for a JSON file. The example is
encoded exactly as the model's run encodes it (:func:`core.train.encoding.encode` with the run's input
format, max length and type language), so markers, prompt segments and entity-safe truncation are those
the model saw in training.

Models
    :func:`load_explainer` takes a run folder (``core.train.model.load_run_model``), or the path or hub id of
    any Hugging Face sequence-classification checkpoint (``AutoModelForSequenceClassification``,
    ``trust_remote_code=False``, eager attention so attention maps exist). Each model is loaded once and
    kept (a small LRU); every interpreter runs under the model's own lock, because Captum registers
    forward hooks on the shared module while it runs and two sessions must not see each other's hooks.
    A checkpoint whose files are there but do not load (a corrupt ``pytorch_model.bin``, a cut-short
    ``model.safetensors``, a ``config.json`` that is not JSON) raises
    :class:`~core.analysis.explain_load.CheckpointError`, naming the run and the file, never the server
    folder it sits in.

Units
    Subword scores are merged into *words*: whitespace-separated words of the original sentence (a Korean
    eojeol such as ``이순신은`` is one word whether or not a marker splits it), each entity marker as one
    unit (``@ * PER *``), each special token as one unit, and the words of a first segment (baseline,
    prompt) as units of their own. A word's score is the sum of its tokens' scores, so nothing is lost
    in merging; ``norm`` divides by the largest absolute word score (in [-1, 1]).

Methods (all for any target label)
    ``integrated_gradients``: Captum ``LayerIntegratedGradients`` on the input embeddings against a
    baseline that replaces every content token by ``[PAD]`` and keeps special tokens and entity markers;
    the convergence delta (sum of attributions minus ``f(x) - f(baseline)``) is reported. Default:
    Gauss-Legendre quadrature with :data:`~core.analysis.attributions.IG_STEPS` points in one batch, which
    matches the error of 50-step Riemann trapezoid (the reference the bench sets) in under half the time
    (``bench/explain.py``).
    ``input_x_gradient`` (gradient x embedding, signed), ``saliency`` (gradient norm, unsigned) and
    ``occlusion`` (Captum ``FeatureAblation`` with one feature group per word: the change in the target
    probability when that word's tokens become ``[PAD]``).
    Every method's scores get ERASER faithfulness (:func:`~core.analysis.attributions.faithfulness`).

The explained quantity ``f`` is the softmax probability of the target label, so IG attributions add up
to a change in probability and faithfulness is measured in the same unit.

Attention
    :func:`~core.analysis.attention.attention` returns the attention maps (layers x heads x tokens x
    tokens) with an optional layer and token limit for long inputs;
    :func:`~core.analysis.attention.bertviz_html` renders bertviz's head view or model view as a
    self-contained page: require.js, d3 and jQuery are inlined from ``assets/vendor`` (``make
    assets``), so nothing is fetched from a CDN, and every token reaches the page as JSON with ``<``,
    ``>``, ``&`` escaped, so a token cannot close the script it sits in.

Modules
    This module is the entry point: :func:`load_explainer` (and its model cache), the interpreters by name
    (:data:`INTERPRETERS`, :data:`METHODS`) and :func:`explain`, which runs them together. The parts live
    beside it: :mod:`core.analysis.explain_load` (the :class:`~core.analysis.explain_load.Explainer` and
    reading or diagnosing a checkpoint), :mod:`core.analysis.explain_encoding` (examples and their word
    units), :mod:`core.analysis.attributions` (probabilities, the four methods, faithfulness) and
    :mod:`core.analysis.attention` (attention maps and the bertviz page).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.analysis.attributions import (
    DEFAULT_KS,
    Attribution,
    Prediction,
    input_x_gradient,
    integrated_gradients,
    occlusion,
    predict,
    resolve_target,
    saliency,
)
from core.analysis.explain_encoding import Example, encode_example
from core.analysis.explain_load import CheckpointError, Explainer, load_hf, load_run, run_folder
from core.store.runs import CHECKPOINT_DIR, HEAD_FILE, RunDir
from core.train.encoding import INPUT_FORMATS

__all__ = ["INTERPRETERS", "METHODS", "Explanation", "clear_cache", "explain", "load_explainer"]

METHODS: tuple[str, ...] = ("integrated_gradients", "input_x_gradient", "saliency", "occlusion")
_CACHE_SIZE = 4


_CACHE: OrderedDict[tuple[Any, ...], Explainer] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_LOADING: dict[tuple[Any, ...], threading.Lock] = {}


def clear_cache() -> None:
    """Forget every loaded model (tests; a run folder rewritten in place is noticed by mtime anyway)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def load_explainer(
    source: str | os.PathLike[str],
    *,
    input_format: str = "baseline",
    max_length: int = 256,
    type_language: str = "en",
    owner: str | None = None,
    allow_hub_download: bool | None = None,
) -> Explainer:
    """Load a model once and keep it (LRU of :data:`_CACHE_SIZE`); every caller gets the same object.

    Parameters
    ----------
    source
        A run folder (or its ``checkpoint/``), a local HF checkpoint folder, or a hub id.
    input_format, max_length, type_language
        Only for a plain HF checkpoint, which does not record how it was trained; a run's checkpoint
        carries its own (``re_head.json``) and these are ignored.
    owner
        What error messages call the model (``run #3 name``); default ``run <folder name>`` for a run,
        ``source`` as given for a checkpoint.
    allow_hub_download
        For a hub id: False loads it from the local Hugging Face cache only (a read-only session must not
        pull models onto the server); None follows the server's ``[models] allow_hub_download``.

    Loading happens outside the cache lock (other models stay usable) but under a per-key lock, so two
    sessions asking for the same model at once load it once.

    Raises
    ------
    CheckpointError
        The checkpoint's files are there but one does not load (corrupt, cut short, wrong format).
    ValueError
        An unknown input format; a folder or hub id that is not a sequence-classification checkpoint.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"Unknown input format {input_format!r}; choose one of {', '.join(INPUT_FORMATS)}.")
    path = Path(source).expanduser()
    folder = run_folder(path) if path.exists() else None
    if folder is None and RunDir(path).checkpoint.is_dir():
        # A run whose checkpoint lost its head file: not a plain HF checkpoint to try instead.
        raise CheckpointError(owner or f"run {path.name}", HEAD_FILE, "the file is missing")
    if folder is not None:
        key: tuple[Any, ...] = ("run", str(folder.resolve()), (folder / HEAD_FILE).stat().st_mtime_ns)
    else:
        stamp = (path / "config.json").stat().st_mtime_ns if (path / "config.json").exists() else None
        ident = str(path.resolve()) if path.exists() else str(source)
        key = ("hf", ident, stamp, input_format, int(max_length), type_language)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        loading = _LOADING.setdefault(key, threading.Lock())
    with loading:
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
        try:
            if folder is not None:
                run = folder.parent if folder.name == CHECKPOINT_DIR else folder
                explainer = load_run(folder, owner or f"run {run.name}")
            else:
                explainer = load_hf(
                    str(source), input_format, int(max_length), type_language, owner or str(source), allow_hub_download
                )
        except BaseException:
            # A failed load is not cached (the files may be fixed); its lock must not stay behind either.
            with _CACHE_LOCK:
                _LOADING.pop(key, None)
            raise
        with _CACHE_LOCK:
            _CACHE[key] = explainer
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
            _LOADING.pop(key, None)
    return explainer


#: Interpreter name -> function(explainer, example, *, target=..., ...) -> :class:`Attribution`.
INTERPRETERS: dict[str, Callable[..., Attribution]] = {
    "integrated_gradients": integrated_gradients,
    "input_x_gradient": input_x_gradient,
    "saliency": saliency,
    "occlusion": occlusion,
}


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain` found for one example.

    Attributes
    ----------
    encoded
        The example as the model saw it (``EncodedExample.as_dict``: tokens, word units, note).
    prediction
        :func:`~core.analysis.attributions.predict`'s probabilities, predicted and gold label
        (:class:`~core.analysis.attributions.Prediction`).
    target, target_label
        The label explained (index in the model's label order, and its name).
    attributions
        Method name -> that interpreter's :class:`~core.analysis.attributions.Attribution` (word scores,
        faithfulness, timing), in the order asked.
    """

    encoded: Mapping[str, Any]
    prediction: Prediction
    target: int
    target_label: str
    attributions: Mapping[str, Attribution]

    def to_dict(self) -> dict[str, Any]:
        """The plain dict (``encoded``, ``prediction``, ``target``, ``target_label``, ``attributions``)."""
        return {
            "encoded": dict(self.encoded),
            "prediction": self.prediction.to_dict(),
            "target": self.target,
            "target_label": self.target_label,
            "attributions": {m: r.to_dict() for m, r in self.attributions.items()},
        }


def explain(
    explainer: Explainer,
    example: Example,
    *,
    target: int | str | None = None,
    methods: Sequence[str] = METHODS,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> Explanation:
    """Encoding, prediction and every requested attribution for one example (target: predicted label)."""
    unknown = [m for m in methods if m not in INTERPRETERS]
    if unknown:
        raise ValueError(f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(INTERPRETERS)}.")
    with explainer.lock:
        encoded = encode_example(explainer, example)
        prediction = predict(explainer, encoded)
        tgt = resolve_target(explainer, target, np.asarray(prediction.probs))
        return Explanation(
            encoded=encoded.as_dict(),
            prediction=prediction,
            target=tgt,
            target_label=explainer.labels[tgt],
            attributions={m: INTERPRETERS[m](explainer, encoded, target=tgt, ks=ks) for m in methods},
        )
