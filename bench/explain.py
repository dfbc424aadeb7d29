"""Explain bench: latency of each attribution method, and IG's convergence error against its steps.

A BERT-base-sized classifier (12 layers, hidden 768, 12 heads, random weights from a ``BertConfig``, no
download) with 30 labels is saved as an ordinary local HF checkpoint and loaded through
``core.analysis.explain.load_explainer`` (the ``AutoModelForSequenceClassification`` path), so the bench runs the
code the view runs. The input is a demo row lengthened to exactly 64 tokens.

Target: RE Studio's IG (Gauss-Legendre, ``core.analysis.attributions.IG_STEPS`` points, one batch) at an error
(|convergence delta|) no larger than the reference (50 steps, Riemann trapezoid; Captum's own
default rule is Gauss-Legendre) in at most half the time. Prints one JSON object.

    .venv/bin/python bench/explain.py [--repeats 3] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.analysis import explain as ex  # noqa: E402
from core.analysis.attention import attention  # noqa: E402
from core.analysis.attributions import (  # noqa: E402
    IG_STEPS,
    Attribution,
    baseline_ids,
    extra_args,
    faithfulness,
    integrated_gradients,
    predict,
    prob_forward,
)
from core.analysis.explain_encoding import Example, encode_example, example_from_row  # noqa: E402
from core.analysis.explain_load import Explainer  # noqa: E402
from core.common.schema import KLUE_LABELS  # noqa: E402
from core.data.demo import write_demo_dataset  # noqa: E402
from core.data.loading import load_file  # noqa: E402
from core.train.model import load_tokenizer  # noqa: E402
from core.train.tiny_backbones import build_tiny_backbone  # noqa: E402

TOKENS = 64
#: BERT-base's shape (12 layers, hidden 768, 12 heads, feed-forward 3,072).
BASE = {"hidden": 768, "layers": 12, "heads": 12}
STEPS = (4, 8, 16, 32, 50)


def build_checkpoint(folder: Path, sentences: list[str]) -> Path:
    """A random BERT-base classifier on a WordPiece tokenizer from the demo sentences, saved as HF files.

    The backbone comes from :func:`core.train.tiny_backbones.build_tiny_backbone`, the builder the tests use,
    at BERT-base size; the classification head on top is freshly initialised."""
    from transformers import AutoModelForSequenceClassification

    backbone = build_tiny_backbone(folder / "backbone", sentences, family="bert", vocab_size=8000, **BASE)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        backbone,
        num_labels=len(KLUE_LABELS),
        id2label=dict(enumerate(KLUE_LABELS)),
        label2id={label: i for i, label in enumerate(KLUE_LABELS)},
    )
    out = folder / "bert-base-random"
    model.save_pretrained(out)
    load_tokenizer(backbone).save_pretrained(out)
    return out


def example_of_length(explainer: Explainer, row: dict, filler: list[str], n_tokens: int) -> Example:
    """The row with words appended after the sentence until it encodes to exactly ``n_tokens``."""
    base = example_from_row(row)
    words: list[str] = []
    for word in filler * 50:
        candidate = Example(**{**base.__dict__, "sentence": " ".join([base.sentence, *words, word])})
        length = len(encode_example(explainer, candidate))
        if length > n_tokens:
            continue
        words.append(word)
        if length == n_tokens:
            return candidate
    raise RuntimeError(f"could not build a {n_tokens}-token input")


def timed(fn: Callable[[], dict], repeats: int) -> tuple[float, dict]:
    times, result = [], {}
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_demo_dataset(tmp_path / "demo", n_train=1000, n_test=100)
        frame = load_file(tmp_path / "demo" / "train.csv").frame
        sentences = frame["sentence"].astype(str).tolist()
        checkpoint = build_checkpoint(tmp_path, sentences)
        explainer = ex.load_explainer(checkpoint, input_format="typed_entity_marker_punct", max_length=128)
        explainer.model.to(args.device)
        filler = " ".join(sentences[1:40]).split()
        example = example_of_length(explainer, frame.iloc[0].to_dict(), filler, TOKENS)
        encoded = encode_example(explainer, example)
        target = predict(explainer, encoded).pred_label

        # Warm-up (first calls allocate and pick kernels).
        integrated_gradients(explainer, encoded, target=target, n_steps=8, ks=None)
        latency = {}
        for method, fn in ex.INTERPRETERS.items():
            seconds, _ = timed(lambda fn=fn: fn(explainer, encoded, target=target, ks=None), args.repeats)
            latency[method] = round(seconds, 4)
        seconds, _ = timed(lambda: predict(explainer, encoded), args.repeats)
        latency["predict"] = round(seconds, 4)
        seconds, _ = timed(lambda: attention(explainer, encoded), args.repeats)
        latency["attention"] = round(seconds, 4)
        seconds, _ = timed(
            lambda: faithfulness(explainer, encoded, [0.0] * len(encoded), explainer.labels.index(target)),
            args.repeats,
        )
        latency["faithfulness"] = round(seconds, 4)

        convergence = []
        for method in ("riemann_trapezoid", "gausslegendre"):
            for steps in STEPS:

                def run(method: str = method, steps: int = steps) -> Attribution:
                    return integrated_gradients(
                        explainer, encoded, target=target, n_steps=steps, method=method, ks=None
                    )

                seconds, res = timed(run, 1)  # one run each: the head-to-head below is the timed comparison
                convergence.append(
                    {"method": method, "n_steps": steps, "abs_delta": abs(res.delta), "wall_s": round(seconds, 4)}
                )
                print(json.dumps(convergence[-1]), file=sys.stderr, flush=True)  # progress

        def captum_defaults() -> dict:
            # The reference: n_steps=50 (Captum's default), riemann_trapezoid, no internal
            # batching, Captum's own convergence delta. (Captum's default *method* is gausslegendre; its
            # 50-step error is in the ig_convergence rows.)
            from captum.attr import LayerIntegratedGradients

            lig = LayerIntegratedGradients(prob_forward(explainer), explainer.embeddings)
            ids = torch.tensor([encoded.input_ids], device=explainer.device)
            base = baseline_ids(explainer, encoded)
            extra = extra_args(explainer, encoded)
            _, delta = lig.attribute(
                ids,
                baselines=base,
                target=explainer.labels.index(target),
                additional_forward_args=extra,
                n_steps=50,
                method="riemann_trapezoid",
                return_convergence_delta=True,
            )
            return {"delta": float(delta[0])}

        # Interleaved, so that load from other processes hits both alike; medians reported.
        default_times, ours_times = [], []
        for _ in range(args.repeats):
            seconds, default_res = timed(captum_defaults, 1)
            default_times.append(seconds)
            seconds, ours_res = timed(lambda: integrated_gradients(explainer, encoded, target=target, ks=None), 1)
            ours_times.append(seconds)
        default_s, ours_s = statistics.median(default_times), statistics.median(ours_times)

    result = {
        "model": "BERT-base-sized (12 layers, hidden 768, 12 heads, 30 labels, random weights)",
        "tokens": len(encoded),
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "repeats": args.repeats,
        "latency_s": latency,
        "ig_convergence": convergence,
        "captum_default": {
            "n_steps": 50,
            "method": "riemann_trapezoid",
            "abs_delta": abs(default_res["delta"]),
            "wall_s": round(default_s, 4),
        },
        "ours": {
            "n_steps": IG_STEPS,
            "method": "gausslegendre",
            "abs_delta": abs(ours_res.delta),
            "wall_s": round(ours_s, 4),
        },
    }
    result["target_met"] = bool(
        result["ours"]["abs_delta"] <= result["captum_default"]["abs_delta"]
        and result["ours"]["wall_s"] <= 0.5 * result["captum_default"]["wall_s"]
    )
    result["speedup"] = round(default_s / ours_s, 2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
