"""Tiny untrained checkpoints (an RE Studio run folder, a plain HF classifier) and the examples they explain."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from core.analysis.explain_encoding import Example, make_example
from core.common.schema import KLUE_LABELS, KLUE_SCHEMA
from core.train.model import build_model, build_tiny_model, load_tokenizer, prepare_tokenizer, save_checkpoint
from tests.helpers.payloads import XSS_IMG, XSS_SCRIPT

#: The tokenizers' training text: Korean, English and a sentence carrying markup.
SENTENCES = [
    "전주 주민인 홍서윤은 1995년 2월 15일 열린 공청회에서 의견을 냈다.",
    "이순신은 1545년에 태어났다.",
    "삼성전자의 대표 이재용은 기자회견을 열었다.",
    "Barack Obama was born in Honolulu in 1961.",
    f"Alice {XSS_IMG} met Bob {XSS_SCRIPT} at noon.",
]


def tiny_checkpoint(folder: Path, input_format: str, *, head: str = "entity_start", seed: int = 0) -> Path:
    """A tiny random RE Studio run folder (``checkpoint/`` inside) under ``folder``; returns the run folder."""
    backbone = build_tiny_model(folder / "backbone", SENTENCES * 4, vocab_size=300, hidden=32, layers=2, heads=2)
    tokenizer = load_tokenizer(backbone)
    prepare_tokenizer(tokenizer, input_format, KLUE_SCHEMA)
    torch.manual_seed(seed)
    model = build_model(backbone, tokenizer, labels=KLUE_LABELS, head=head, input_format=input_format, max_length=64)
    # Larger classifier weights than the default init so the probabilities are far from uniform and IG
    # has a real path to integrate.
    with torch.no_grad():
        model.classifier.weight.mul_(10.0)
    return save_checkpoint(model, tokenizer, folder / "run" / "checkpoint").parent


def hf_classifier(folder: Path, labels: Sequence[str]) -> Path:
    """A plain HF sequence classifier (tiny, random, no run folder around it) with ``labels`` as id2label."""
    from transformers import BertConfig, BertForSequenceClassification

    backbone = build_tiny_model(folder / "bb", SENTENCES * 4, vocab_size=300, hidden=32, layers=2, heads=2)
    tokenizer = load_tokenizer(backbone)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BertForSequenceClassification(config).save_pretrained(folder / "hf")
    tokenizer.save_pretrained(folder / "hf")
    return folder / "hf"


def korean() -> Example:
    """A Korean example: the subject is a person, the object a place."""
    s = SENTENCES[0]
    return make_example(
        s, subj=(s.index("홍서윤"), s.index("홍서윤") + 2), obj=(0, 1), subj_type="PER", obj_type="LOC", id="k1"
    )


def malicious() -> Example:
    """An example whose sentence carries markup between its entities."""
    s = SENTENCES[4]
    return make_example(s, subj=(0, 4), obj=(s.index("Bob"), s.index("Bob") + 2), subj_type="PER", obj_type="PER")


def corrupt(path: Path, how: str) -> None:
    """Overwrite a checkpoint file with garbage, its first half (``cut``) or nothing (``empty``)."""
    data = path.read_bytes()
    path.write_bytes({"garbage": b"garbage\x00\x01 not a checkpoint", "cut": data[: len(data) // 2], "empty": b""}[how])


@contextlib.contextmanager
def restore_torch_threads() -> Iterator[None]:
    """``train()`` sets the process's torch threads; the rest of a test process keeps its own count."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
