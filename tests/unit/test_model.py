"""REModel heads and losses, checkpoints, predict_proba and the tiny demo backbone (core.train.model)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F
from transformers import AutoModel, AutoTokenizer, BertModel

from core.common.schema import KLUE_LABELS, KLUE_SCHEMA
from core.train.encoding import encode
from core.train.model import (
    HEAD_FILE,
    REModel,
    build_model,
    build_tiny_model,
    class_weights,
    focal_loss,
    load_run_model,
    load_tokenizer,
    predict_proba,
    prepare_tokenizer,
    save_checkpoint,
)

TEXTS = [
    "이순신은 1545년에 태어났다.",
    "삼성전자의 회장은 이건희이다.",
    "김철수와 이영희는 부부이다.",
    "박지성의 아버지는 박성종이다.",
    "Apple was founded by Steve Jobs.",
]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), TEXTS * 3, vocab_size=400, hidden=32, layers=1, heads=2)


def test_tiny_model_is_a_normal_hf_folder(tiny_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    backbone = AutoModel.from_pretrained(tiny_path)
    assert isinstance(backbone, BertModel) and backbone.config.hidden_size == 32
    assert backbone.config.vocab_size == len(tokenizer)
    assert tokenizer.is_fast
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    # Case kept, Hangul kept whole (accent stripping would decompose syllables into jamo).
    assert tokenizer.tokenize("Apple") == ["Apple"]
    assert "".join(t.removeprefix("##") for t in tokenizer.tokenize("이순신은")) == "이순신은"
    encoded = tokenizer("이순신", "1545년")
    assert encoded["token_type_ids"][-1] == 1 and encoded["input_ids"][0] == tokenizer.cls_token_id
    # Same seed, same weights.
    again = build_tiny_model(tiny_path.parent / "again", TEXTS * 3, vocab_size=400, hidden=32, layers=1, heads=2)
    other = AutoModel.from_pretrained(again)
    for (name, a), (_, b) in zip(backbone.state_dict().items(), other.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    for path in tiny_path.iterdir():
        assert path.stat().st_mode & stat.S_IROTH, path.name


def test_tiny_vocabulary_is_the_same_on_every_build(tmp_path: Path) -> None:
    # The demo sentences have many tied merge counts; before the continuation tokens were registered up front
    # (huggingface/tokenizers#1794) about half of these builds came out with a different vocabulary.
    from core.data.demo import generate_rows

    sentences = generate_rows(600, seed=3)["sentence"].astype(str).tolist()
    vocabularies = {
        (
            build_tiny_model(tmp_path / str(i), sentences, vocab_size=2000, hidden=16, layers=1, heads=1)
            / "tokenizer.json"
        ).read_text(encoding="utf-8")
        for i in range(6)
    }
    assert len(vocabularies) == 1


def test_focal_with_gamma_zero_is_cross_entropy() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 30, generator=gen) * 3
    targets = torch.randint(0, 30, (64,), generator=gen)
    ce = F.cross_entropy(logits, targets)
    assert torch.allclose(focal_loss(logits, targets, gamma=0.0), ce, atol=1e-6)
    assert torch.allclose(focal_loss(logits, targets, gamma=0.0, alpha=0.25), 0.25 * ce, atol=1e-6)
    # gamma > 0 is the formula, and down-weights easy (confident, correct) rows.
    pt = torch.softmax(logits, -1)[torch.arange(64), targets]
    manual = ((1 - pt) ** 2 * -torch.log(pt)).mean()
    assert torch.allclose(focal_loss(logits, targets, gamma=2.0), manual, atol=1e-6)
    assert focal_loss(logits, targets, gamma=2.0) < ce
    weights = class_weights(targets.numpy(), 30)
    weighted = (F.cross_entropy(logits, targets, reduction="none") * weights[targets]).mean()
    assert torch.allclose(focal_loss(logits, targets, gamma=0.0, weight=weights), weighted, atol=1e-6)


def test_class_weights_inverse_frequency() -> None:
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    w = class_weights(labels, 4).numpy()
    np.testing.assert_allclose(w[:3], [10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)], rtol=1e-6)
    assert w[3] == 1.0  # absent class: never a target
    assert w[labels].mean() == pytest.approx(1.0)  # average weight over the training rows is 1


def test_losses_in_the_model(tiny_path: Path) -> None:
    tokenizer = load_tokenizer(tiny_path)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = torch.tensor([0, 1, 2, 1, 0])
    torch.manual_seed(0)
    model = build_model(tiny_path, tokenizer, labels=KLUE_LABELS, loss="focal", focal_gamma=0.0).eval()
    out = model(**batch, labels=labels)
    assert torch.allclose(out.loss, F.cross_entropy(out.logits, labels), atol=1e-6)
    weights = class_weights(labels.numpy(), 30)
    model.loss_name, model.class_weights = "weighted_ce", weights
    out = model(**batch, labels=labels)
    assert torch.allclose(out.loss, F.cross_entropy(out.logits, labels, weight=weights), atol=1e-6)
    with pytest.raises(ValueError, match="class weights"):
        build_model(tiny_path, tokenizer, labels=KLUE_LABELS, loss="weighted_ce")
    with pytest.raises(ValueError, match="Unknown head"):
        build_model(tiny_path, tokenizer, labels=KLUE_LABELS, head="mean")


def test_entity_start_head_pools_the_marker_positions(tiny_path: Path, small_frame: pd.DataFrame) -> None:
    tokenizer = load_tokenizer(tiny_path)
    prepare_tokenizer(tokenizer, "typed_entity_marker", KLUE_SCHEMA)
    torch.manual_seed(0)
    model = build_model(
        tiny_path, tokenizer, labels=KLUE_LABELS, head="entity_start", input_format="typed_entity_marker"
    ).eval()
    enc = encode(small_frame, tokenizer, input_format="typed_entity_marker")
    ids = torch.tensor([x[:12] for x in enc.input_ids])  # all rows have >= 12 tokens; markers inside
    s = torch.tensor(enc.subj_marker_pos)
    o = torch.tensor(enc.obj_marker_pos)
    assert int(max(s.max(), o.max())) < 12
    hidden = model.backbone(input_ids=ids).last_hidden_state
    rows = torch.arange(len(ids))
    expected = torch.cat([hidden[rows, s], hidden[rows, o]], dim=-1)
    assert torch.equal(model.pool(hidden, s, o), expected)
    logits = model(input_ids=ids, subj_marker_pos=s, obj_marker_pos=o).logits
    assert torch.allclose(logits, model.classifier(expected), atol=1e-6)
    # Other positions give other logits: the head really reads the given positions.
    moved = model(input_ids=ids, subj_marker_pos=s + 1, obj_marker_pos=o).logits
    assert not torch.allclose(moved, logits)
    with pytest.raises(ValueError, match="subj_marker_pos"):
        model(input_ids=ids)
    cls_model = REModel(model.backbone, labels=KLUE_LABELS, head="cls").eval()
    assert torch.equal(cls_model.pool(hidden), hidden[:, 0])
    assert cls_model.classifier.in_features == 32 and model.classifier.in_features == 64


@pytest.mark.parametrize("input_format", ["entity_marker", "typed_entity_marker_punct"])
def test_checkpoint_round_trip_gives_identical_logits(
    tiny_path: Path, small_frame: pd.DataFrame, tmp_path: Path, input_format: str
) -> None:
    tokenizer = load_tokenizer(tiny_path)
    added = prepare_tokenizer(tokenizer, input_format, KLUE_SCHEMA)
    assert added == (4 if input_format == "entity_marker" else 0)
    torch.manual_seed(1)
    model = build_model(
        tiny_path,
        tokenizer,
        labels=KLUE_LABELS,
        head="entity_start",
        input_format=input_format,
        type_language="ko",
        max_length=64,
        dropout=0.2,
    )
    assert model.backbone.get_input_embeddings().num_embeddings == len(tokenizer)
    with torch.no_grad():  # move the head off its init so a missed load would show
        model.classifier.weight.add_(0.5)
    run = tmp_path / "run"
    save_checkpoint(model, tokenizer, run / "checkpoint")
    meta = json.loads((run / "checkpoint" / HEAD_FILE).read_text())
    assert meta["head"] == "entity_start" and meta["input_format"] == input_format
    assert meta["type_language"] == "ko" and meta["max_length"] == 64 and meta["labels"] == list(KLUE_LABELS)
    assert (run / "checkpoint" / "model.safetensors").stat().st_mode & stat.S_IROTH
    loaded, loaded_tok, loaded_meta = load_run_model(run)  # the run folder, or the checkpoint itself
    assert loaded_meta == meta and len(loaded_tok) == len(tokenizer)
    assert loaded.backbone.config._attn_implementation == "eager"
    model.eval()
    p1 = predict_proba(model, tokenizer, small_frame, meta=model.meta, batch_size=3)
    p2 = predict_proba(loaded, loaded_tok, small_frame, meta=loaded_meta, batch_size=3)
    np.testing.assert_array_equal(p1, p2)
    enc = encode(small_frame, loaded_tok, input_format=input_format, type_language="ko")
    batch = {
        "input_ids": torch.tensor([enc.input_ids[0]]),
        "subj_marker_pos": torch.tensor(enc.subj_marker_pos[:1]),
        "obj_marker_pos": torch.tensor(enc.obj_marker_pos[:1]),
    }
    assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    with pytest.raises(FileNotFoundError, match=HEAD_FILE):
        load_run_model(tmp_path)


def test_predict_proba_keeps_frame_order(tiny_path: Path, small_frame: pd.DataFrame) -> None:
    tokenizer = load_tokenizer(tiny_path)
    torch.manual_seed(2)
    model = build_model(tiny_path, tokenizer, labels=KLUE_LABELS, input_format="prompt").eval()
    probs = predict_proba(model, tokenizer, small_frame, meta=model.meta, batch_size=2)
    assert probs.shape == (4, 30) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    order = [2, 0, 3, 1]
    shuffled = predict_proba(model, tokenizer, small_frame.iloc[order], meta=model.meta, batch_size=3)
    np.testing.assert_allclose(shuffled, probs[order], atol=1e-6)
    assert model.training is False
    assert predict_proba(model, tokenizer, small_frame.iloc[:0], meta=model.meta).shape == (0, 30)
