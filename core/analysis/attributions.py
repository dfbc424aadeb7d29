"""Probabilities and attributions for one encoded example: what the model predicts and why.

:func:`predict` gives the class probabilities; :func:`masked_probabilities` gives them with tokens removed
(ERASER deletion or ``[PAD]``), which :func:`faithfulness` (ERASER comprehensiveness and sufficiency) and
occlusion build on. The four attribution methods (:func:`integrated_gradients`, :func:`input_x_gradient`,
:func:`saliency`, :func:`occlusion`) run Captum on the target label's softmax probability under the
model's lock, merge token scores into word units (:func:`merge_scores`) and score their own
faithfulness. Captum is imported inside the methods so that the views load without it. The entry point that
runs them together is :func:`core.analysis.explain.explain`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.analysis.explain_encoding import EncodedExample, Example, encode_example
from core.analysis.explain_load import Explainer

__all__ = [
    "DEFAULT_KS",
    "IG_STEPS",
    "Attribution",
    "Faithfulness",
    "Prediction",
    "faithfulness",
    "input_x_gradient",
    "integrated_gradients",
    "masked_probabilities",
    "merge_scores",
    "occlusion",
    "predict",
    "saliency",
    "target_probabilities",
]

#: Gauss-Legendre points for IG by default. On the trained demo model 16 points beat the 50-step
#: Riemann trapezoid's error (8 do not); on BERT-base (bench/explain.py) they are far below it.
IG_STEPS = 16
#: ERASER's bins: the top 1, 5, 10, 20 and 50 % of the content tokens (at least one token each).
DEFAULT_KS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20, 0.50)


# -- results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """What :func:`predict` found for one example.

    Attributes
    ----------
    id
        The example's id (None for a typed sentence).
    labels, probs
        Every label name in the model's order and its probability.
    pred_label, pred_prob
        The argmax label and its probability.
    gold_label, correct
        The example's own label and whether the prediction matches it (both None when unknown).
    ranked
        ``{"label", "prob"}`` for the labels, most probable first (the ``top`` asked for).
    """

    id: str | None
    labels: tuple[str, ...]
    probs: tuple[float, ...]
    pred_label: str
    pred_prob: float
    gold_label: str | None
    correct: bool | None
    ranked: tuple[Mapping[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """The plain dict, keys in field order (lists where the fields hold tuples)."""
        return {
            "id": self.id,
            "labels": list(self.labels),
            "probs": list(self.probs),
            "pred_label": self.pred_label,
            "pred_prob": self.pred_prob,
            "gold_label": self.gold_label,
            "correct": self.correct,
            "ranked": [dict(r) for r in self.ranked],
        }


@dataclass(frozen=True)
class Faithfulness:
    """ERASER comprehensiveness and sufficiency of one ranking (:func:`faithfulness`).

    Attributes
    ----------
    comprehensiveness, sufficiency
        Averages over the bins (AOPC).
    prob
        The target probability of the whole input; None when the example has no content tokens (no bins).
    bins
        Per bin: ``k``, ``n_tokens``, ``comprehensiveness``, ``sufficiency``.
    """

    comprehensiveness: float
    sufficiency: float
    prob: float | None = None
    bins: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The plain dict; ``prob`` is left out when there were no content tokens to rank."""
        out: dict[str, Any] = {"comprehensiveness": self.comprehensiveness, "sufficiency": self.sufficiency}
        if self.prob is not None:
            out["prob"] = self.prob
        out["bins"] = [dict(b) for b in self.bins]
        return out


@dataclass(frozen=True)
class Attribution:
    """One attribution method's result for one example and target label.

    Attributes
    ----------
    method, target, target_label
        The method's name and the label explained (index in the model's label order, and its name).
    tokens, token_scores
        The model's tokens and each one's score.
    words
        Word units (:func:`merge_scores`): ``text``, ``kind``, ``tokens``, ``score``, ``norm``.
    wall_s
        Seconds the attribution took (faithfulness not included).
    faithfulness
        ERASER faithfulness of the scores; None when the caller asked for none (``ks=None``).
    delta, f_x, f_baseline, n_steps, integration
        Integrated gradients only (None for the other methods): the convergence delta, the target
        probability of the input and of the baseline, and the quadrature used.
    """

    method: str
    target: int
    target_label: str
    tokens: tuple[str, ...]
    token_scores: tuple[float, ...]
    words: tuple[Mapping[str, Any], ...]
    wall_s: float
    faithfulness: Faithfulness | None = None
    delta: float | None = None
    f_x: float | None = None
    f_baseline: float | None = None
    n_steps: int | None = None
    integration: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plain dict: the integrated-gradients keys and ``faithfulness`` only where they were computed."""
        out: dict[str, Any] = {
            "method": self.method,
            "target": self.target,
            "target_label": self.target_label,
            "tokens": list(self.tokens),
            "token_scores": list(self.token_scores),
            "words": [{**w, "tokens": list(w["tokens"])} for w in self.words],
            "wall_s": self.wall_s,
        }
        for name in _IG_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.faithfulness is not None:
            out["faithfulness"] = self.faithfulness.to_dict()
        return out


_IG_FIELDS: tuple[str, ...] = ("delta", "f_x", "f_baseline", "n_steps", "integration")


# -- prediction -----------------------------------------------------------------------------------------


def resolve_target(explainer: Explainer, target: int | str | None, probs: np.ndarray) -> int:
    if target is None:
        return int(np.argmax(probs))
    if isinstance(target, str):
        if target not in explainer.labels:
            raise ValueError(f"Unknown target label {target!r}; the model's labels are {', '.join(explainer.labels)}.")
        return explainer.labels.index(target)
    if not 0 <= int(target) < len(explainer.labels):
        raise ValueError(f"Target index {target} is outside 0..{len(explainer.labels) - 1}.")
    return int(target)


def _probs(explainer: Explainer, encoded: EncodedExample) -> np.ndarray:
    with torch.inference_mode():
        pair = explainer.type_pair(encoded.example.subj_type, encoded.example.obj_type)
        logits = explainer.forward(*encoded.tensors(device=explainer.device), type_pair=pair).logits
    return torch.softmax(logits.double(), dim=-1)[0].cpu().numpy()


def masked_probabilities(
    explainer: Explainer, encoded: EncodedExample, masks: np.ndarray, *, mode: str = "delete"
) -> np.ndarray:
    """Class probabilities with some tokens removed, one row of ``masks`` (True = keep) per variant.

    ``mode="delete"`` (ERASER): a removed token becomes ``[PAD]`` with attention mask 0, so no other
    position can attend to it; this is deletion except that the remaining tokens keep their positions
    (so the entity-start head still finds its tokens). ``mode="pad"`` (occlusion, IG's baseline): the
    token becomes ``[PAD]`` and stays attended. One batched forward pass; float64 softmax.
    """
    if mode not in ("delete", "pad"):
        raise ValueError(f"mode must be 'delete' or 'pad', got {mode!r}.")
    masks = np.atleast_2d(np.asarray(masks, dtype=bool))
    if masks.shape[1] != len(encoded):
        raise ValueError(f"Each mask needs {len(encoded)} entries (one per token), got {masks.shape[1]}.")
    ids, _, types, subj, obj = encoded.tensors(len(masks), explainer.device)
    keep = torch.from_numpy(masks).to(explainer.device)
    ids = torch.where(keep, ids, torch.full_like(ids, explainer.pad_id))
    with explainer.lock, torch.inference_mode():
        attend = keep.long() if mode == "delete" else torch.ones_like(ids)
        pair = explainer.type_pair(encoded.example.subj_type, encoded.example.obj_type, len(masks))
        logits = explainer.forward(ids, attend, types, subj, obj, type_pair=pair).logits
    return torch.softmax(logits.double(), dim=-1).cpu().numpy()


def target_probabilities(explainer: Explainer, encoded: EncodedExample, masks: np.ndarray, target: int) -> np.ndarray:
    """The target column of :func:`masked_probabilities`."""
    return masked_probabilities(explainer, encoded, masks)[:, target]


def predict(explainer: Explainer, example: Example | EncodedExample, *, top: int | None = None) -> Prediction:
    """Probabilities for every label (model order), the predicted label, and the gold one if known."""
    encoded = example if isinstance(example, EncodedExample) else encode_example(explainer, example)
    with explainer.lock:
        probs = _probs(explainer, encoded)
    order = np.argsort(-probs, kind="stable")
    ranked = tuple({"label": explainer.labels[i], "prob": float(probs[i])} for i in order[: top or len(order)])
    pred = int(order[0])
    gold = encoded.example.label
    return Prediction(
        id=encoded.example.id,
        labels=tuple(explainer.labels),
        probs=tuple(float(p) for p in probs),
        pred_label=explainer.labels[pred],
        pred_prob=float(probs[pred]),
        gold_label=gold,
        correct=None if gold is None else gold == explainer.labels[pred],
        ranked=ranked,
    )


# -- attributions --------------------------------------------------------------------------------------


def merge_scores(encoded: EncodedExample, token_scores: Sequence[float] | np.ndarray) -> list[dict[str, Any]]:
    """Word-level scores: the sum of each unit's token scores, plus ``norm`` (divided by the max |score|).

    Units whose tokens every method keeps (special tokens, markers) are included with their sum too.
    """
    scores = np.asarray(token_scores, dtype=np.float64)
    if scores.shape != (len(encoded),):
        raise ValueError(f"Expected {len(encoded)} token scores, got shape {scores.shape}.")
    sums = np.zeros(len(encoded.units), dtype=np.float64)
    np.add.at(sums, np.asarray(encoded.unit_of, dtype=np.int64), scores)
    scale = float(np.abs(sums).max()) if len(sums) else 0.0
    out = []
    for i, unit in enumerate(encoded.units):
        out.append(
            {
                "text": unit["text"],
                "kind": unit["kind"],
                "tokens": list(unit["tokens"]),
                "score": float(sums[i]),
                "norm": float(sums[i] / scale) if scale > 0 else 0.0,
            }
        )
    return out


def faithfulness(
    explainer: Explainer,
    encoded: EncodedExample,
    token_scores: Sequence[float] | np.ndarray,
    target: int,
    *,
    ks: Sequence[float] = DEFAULT_KS,
) -> Faithfulness:
    """ERASER comprehensiveness and sufficiency of a ranking of the content tokens (DeYoung et al., 2020).

    For each k, the top ``max(1, round(k * n))`` content tokens by score are removed
    (comprehensiveness: ``p(x) - p(x without them)``, higher is better) or kept alone with the special
    tokens and markers (sufficiency: ``p(x) - p(only them)``, lower is better); both are averaged over
    the bins (AOPC). Removal is :func:`target_probabilities`' masking. All variants run in one batch.
    """
    scores = np.asarray(token_scores, dtype=np.float64)
    content = np.flatnonzero(encoded.content)
    base = np.ones(len(encoded), dtype=bool)
    if content.size == 0:
        return Faithfulness(comprehensiveness=0.0, sufficiency=0.0)
    # Highest score first; ties broken by position so the result is deterministic.
    ranked = content[np.lexsort((content, -scores[content]))]
    sizes = [max(1, min(content.size, round(k * content.size))) for k in ks]
    masks = [base]
    for size in sizes:
        top = ranked[:size]
        comp = base.copy()
        comp[top] = False
        suff = base.copy()
        suff[np.setdiff1d(content, top)] = False
        masks += [comp, suff]
    probs = target_probabilities(explainer, encoded, np.stack(masks), target)
    p = float(probs[0])
    bins = []
    for i, (k, size) in enumerate(zip(ks, sizes, strict=True)):
        bins.append(
            {
                "k": float(k),
                "n_tokens": int(size),
                "comprehensiveness": p - float(probs[1 + 2 * i]),
                "sufficiency": p - float(probs[2 + 2 * i]),
            }
        )
    return Faithfulness(
        comprehensiveness=float(np.mean([b["comprehensiveness"] for b in bins])),
        sufficiency=float(np.mean([b["sufficiency"] for b in bins])),
        prob=p,
        bins=tuple(bins),
    )


def prob_forward(explainer: Explainer) -> Callable[..., torch.Tensor]:
    def forward(
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        subj_pos: torch.Tensor,
        obj_pos: torch.Tensor,
        type_pair: torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits = explainer.forward(
            input_ids, attention_mask, token_type_ids, subj_pos, obj_pos, type_pair=type_pair
        ).logits
        return torch.softmax(logits.float(), dim=-1)

    return forward


def extra_args(explainer: Explainer, encoded: EncodedExample) -> tuple[Any, ...]:
    _, mask, types, subj, obj = encoded.tensors(device=explainer.device)
    # A type-restricted run's table row, batched by Captum like the other tensors (None otherwise).
    pair = explainer.type_pair(encoded.example.subj_type, encoded.example.obj_type)
    return (mask, types, subj, obj, pair)


def baseline_ids(explainer: Explainer, encoded: EncodedExample) -> torch.Tensor:
    """[PAD] for every content token; special tokens and entity markers kept."""
    ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=explainer.device)
    content = torch.from_numpy(encoded.content)[None, :].to(explainer.device)
    return torch.where(content, torch.full_like(ids, explainer.pad_id), ids)


def _result(
    explainer: Explainer,
    encoded: EncodedExample,
    method: str,
    target: int,
    token_scores: np.ndarray,
    elapsed: float,
    *,
    ks: Sequence[float] | None,
    extra: Mapping[str, Any] | None = None,
) -> Attribution:
    # ``elapsed`` is measured by the caller before faithfulness runs: wall_s is the attribution's own time.
    return Attribution(
        method=method,
        target=int(target),
        target_label=explainer.labels[target],
        tokens=tuple(encoded.tokens),
        token_scores=tuple(float(s) for s in token_scores),
        words=tuple(merge_scores(encoded, token_scores)),
        wall_s=elapsed,
        faithfulness=None if ks is None else faithfulness(explainer, encoded, token_scores, target, ks=ks),
        **dict(extra or {}),
    )


def _prepare(
    explainer: Explainer, example: Example | EncodedExample, target: int | str | None
) -> tuple[EncodedExample, int]:
    encoded = example if isinstance(example, EncodedExample) else encode_example(explainer, example)
    probs = _probs(explainer, encoded) if target is None else np.zeros(len(explainer.labels))
    return encoded, resolve_target(explainer, target, probs)


def integrated_gradients(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    n_steps: int = IG_STEPS,
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> Attribution:
    """Layer Integrated Gradients on the token embeddings, summed over the hidden size per token.

    ``delta`` is Captum's convergence delta: ``sum(attributions) - (f(x) - f(baseline))`` with ``f`` the
    target probability; ``f_x`` and ``f_baseline`` are reported so completeness can be checked.
    ``internal_batch_size`` defaults to all steps in one batch up to ~8k tokens per batch: one large
    batch keeps the matrix multiplications busy, the cap bounds memory on long inputs.
    """
    from captum.attr import LayerIntegratedGradients

    started = time.perf_counter()
    with explainer.lock:
        encoded, tgt = _prepare(explainer, example, target)
        if internal_batch_size is None:
            internal_batch_size = max(1, min(n_steps, 8192 // max(1, len(encoded))))
        ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=explainer.device)
        baseline = baseline_ids(explainer, encoded)
        lig = LayerIntegratedGradients(prob_forward(explainer), explainer.embeddings)
        attributions = lig.attribute(
            ids,
            baselines=baseline,
            target=tgt,
            additional_forward_args=extra_args(explainer, encoded),
            n_steps=int(n_steps),
            method=method,
            internal_batch_size=int(internal_batch_size),
        )
        scores = attributions.sum(dim=-1)[0].detach().double().cpu().numpy()
        # Captum's convergence delta, sum(attributions) - (f(x) - f(baseline)), computed here from one
        # two-row forward pass that also gives f(x) and f(baseline) to the caller (Captum's own
        # return_convergence_delta would run that forward pass a second time).
        with torch.inference_mode():
            _, mask, types, subj, obj = encoded.tensors(2, explainer.device)
            both = torch.cat([ids, baseline])
            pair = explainer.type_pair(encoded.example.subj_type, encoded.example.obj_type, 2)
            f = prob_forward(explainer)(both, mask, types, subj, obj, pair)[:, tgt].double().cpu().numpy()
        delta = float(scores.sum() - (f[0] - f[1]))
        elapsed = time.perf_counter() - started
        return _result(
            explainer,
            encoded,
            "integrated_gradients",
            tgt,
            scores,
            elapsed,
            ks=ks,
            extra={
                "delta": delta,
                "f_x": float(f[0]),
                "f_baseline": float(f[1]),
                "n_steps": int(n_steps),
                "integration": method,
            },
        )


def _gradient_attribution(
    explainer: Explainer,
    example: Example | EncodedExample,
    target: int | str | None,
    ks: Sequence[float] | None,
    *,
    method: str,
) -> Attribution:
    """Captum ``LayerGradientXActivation`` on the embeddings, reduced over the hidden size per ``method``.

    ``input_x_gradient`` multiplies the gradient by the embedding and sums (signed); ``saliency`` keeps the
    bare gradient and takes its L2 norm (unsigned).
    """
    from captum.attr import LayerGradientXActivation

    started = time.perf_counter()
    with explainer.lock:
        encoded, tgt = _prepare(explainer, example, target)
        multiply = method == "input_x_gradient"
        layer = LayerGradientXActivation(prob_forward(explainer), explainer.embeddings, multiply_by_inputs=multiply)
        ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=explainer.device)
        attr = layer.attribute(ids, target=tgt, additional_forward_args=extra_args(explainer, encoded))
        per_dim = attr[0].detach().double()
        scores = (per_dim.sum(dim=-1) if multiply else per_dim.norm(dim=-1)).cpu().numpy()
        elapsed = time.perf_counter() - started
        return _result(explainer, encoded, method, tgt, scores, elapsed, ks=ks)


def input_x_gradient(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> Attribution:
    """Gradient x embedding (Captum ``LayerGradientXActivation``), summed over the hidden size: signed."""
    return _gradient_attribution(explainer, example, target, ks, method="input_x_gradient")


def saliency(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> Attribution:
    """Saliency: the L2 norm of the target probability's gradient at each token embedding (unsigned)."""
    return _gradient_attribution(explainer, example, target, ks, method="saliency")


def occlusion(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> Attribution:
    """Word occlusion: ``p(x) - p(x with the word's tokens as [PAD])`` per word (Captum ``FeatureAblation``).

    Captum's sliding-window ``Occlusion`` cannot follow word boundaries, so ``FeatureAblation`` with one
    feature group per word unit does the occluding; special tokens and markers get a baseline equal to
    themselves (score 0). A word's score is split evenly over its tokens, so merging gives it back.
    """
    from captum.attr import FeatureAblation

    started = time.perf_counter()
    with explainer.lock:
        encoded, tgt = _prepare(explainer, example, target)
        ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=explainer.device)
        mask = torch.tensor([encoded.unit_of], dtype=torch.long, device=explainer.device)
        ablation = FeatureAblation(prob_forward(explainer))
        with torch.inference_mode():
            attr = ablation.attribute(
                ids,
                baselines=baseline_ids(explainer, encoded),
                target=tgt,
                additional_forward_args=extra_args(explainer, encoded),
                feature_mask=mask,
                perturbations_per_eval=max(1, len(encoded.units)),
            )
        per_token = attr[0].double().cpu().numpy()
        sizes = np.bincount(np.asarray(encoded.unit_of), minlength=len(encoded.units))
        scores = per_token / sizes[np.asarray(encoded.unit_of)]
        # Kept tokens are 'ablated' into themselves; drop the float noise of the batched re-run.
        scores[~encoded.content] = 0.0
        elapsed = time.perf_counter() - started
        return _result(explainer, encoded, "occlusion", tgt, scores, elapsed, ks=ks)
