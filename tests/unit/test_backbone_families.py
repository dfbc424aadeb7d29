"""Every hub family KLUE teams fine-tune, on small random checkpoints built offline with the real classes
(:mod:`core.train.tiny_backbones`): BERT + WordPiece, RoBERTa with one token type + a WordPiece BertTokenizer
(klue/roberta), XLM-RoBERTa + a SentencePiece-style Unigram tokenizer, ELECTRA with embedding_size < hidden_size.

Every input format x head runs forward and backward on each; one real training run per family (a pair format,
the one that crashed klue/roberta) saves, reloads, predicts, and is explained (IG, occlusion, attention)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import DataCollatorWithPadding

from core.analysis import explain as ex
from core.analysis.attention import attention
from core.analysis.explain_encoding import example_from_row
from core.common.schema import KLUE_SCHEMA
from core.data.importing import seed_demo
from core.store.workspace import Workspace
from core.train import model as re_model
from core.train import training
from core.train.config import HEADS
from core.train.encoding import INPUT_FORMATS, encode
from core.train.tiny_backbones import FAMILIES, build_tiny_backbone
from tests.helpers.models import restore_torch_threads


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("families")
    seed_demo(Workspace(root))
    return root


@pytest.fixture(scope="module")
def frame(home: Path):
    ws = Workspace(home)
    return ws.current_frame(ws.datasets()[0].id, "train")


@pytest.fixture(scope="module")
def backbones(home: Path, frame) -> dict[str, Path]:
    texts = frame["sentence"].tolist()[:600]
    return {f: build_tiny_backbone(home / "backbones" / f, texts, family=f, vocab_size=1500) for f in FAMILIES}


def test_the_builders_use_each_familys_real_classes(backbones: dict[str, Path]) -> None:
    from transformers import AutoConfig, AutoTokenizer

    expected = {
        "bert": ("bert", 2),
        "roberta": ("roberta", 1),
        "xlm-roberta": ("xlm-roberta", 1),
        "electra": ("electra", 2),
    }
    for family, path in backbones.items():
        config = AutoConfig.from_pretrained(path)
        assert (config.model_type, config.type_vocab_size) == expected[family]
        tokenizer = AutoTokenizer.from_pretrained(path)
        pair = tokenizer("가 나", "다")["input_ids"]
        if family == "xlm-roberta":
            # <s> A </s></s> B </s>, no token types
            assert tokenizer.convert_ids_to_tokens(pair)[0] == "<s>" and pair.count(tokenizer.eos_token_id) == 3
            assert "token_type_ids" not in tokenizer.model_input_names
        else:
            assert "token_type_ids" in tokenizer.model_input_names  # klue/roberta's BertTokenizer emits them too
    assert (
        AutoConfig.from_pretrained(backbones["electra"]).embedding_size
        < AutoConfig.from_pretrained(backbones["electra"]).hidden_size
    )


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_format_and_head_runs_forward_and_backward(family: str, backbones: dict[str, Path], frame) -> None:
    rows = frame.head(6)
    labels = torch.tensor([KLUE_SCHEMA.labels.index(x) for x in rows["label"]])
    for input_format in INPUT_FORMATS:
        tokenizer = re_model.load_tokenizer(backbones[family])
        re_model.prepare_tokenizer(tokenizer, input_format, KLUE_SCHEMA)
        enc = encode(rows, tokenizer, input_format=input_format, max_length=64, type_language="ko")
        batch = DataCollatorWithPadding(tokenizer)(enc.features(labels.tolist()))
        for head in HEADS:
            model = re_model.build_model(
                backbones[family], tokenizer, labels=KLUE_SCHEMA.labels, head=head, input_format=input_format
            )
            out = model(**batch)
            out.loss.backward()
            assert out.logits.shape == (6, len(KLUE_SCHEMA.labels)), (family, input_format, head)
            assert torch.isfinite(out.loss), (family, input_format, head)


def test_a_single_token_type_backbone_takes_pair_inputs(backbones: dict[str, Path], frame, monkeypatch) -> None:
    # klue/roberta: a RobertaModel with type_vocab_size=1 behind a BertTokenizer that emits type 1 for the second
    # text of the pair formats. Passing those ids on was an IndexError (a device-side assert on a GPU).
    tokenizer = re_model.load_tokenizer(backbones["roberta"])
    enc = encode(frame.head(4), tokenizer, input_format="baseline", max_length=64, type_language="ko")
    assert enc.token_type_ids is not None and max(max(t) for t in enc.token_type_ids) == 1
    batch = DataCollatorWithPadding(tokenizer)(enc.features())
    model = re_model.build_model(backbones["roberta"], tokenizer, labels=KLUE_SCHEMA.labels, input_format="baseline")
    assert not model.use_token_types
    assert model(**batch).logits.shape[0] == 4
    model.use_token_types = True  # what the model did before it read its config
    with pytest.raises(IndexError):
        model(**batch)
    # Explain's own forward for a plain checkpoint (not a run) gets the same treatment.
    ex.clear_cache()
    explainer = ex.load_explainer(backbones["roberta"], input_format="baseline", type_language="ko")
    result = ex.explain(explainer, example_from_row(frame.iloc[0]), methods=("integrated_gradients",), ks=None)
    assert np.isfinite(result.attributions["integrated_gradients"].token_scores).all()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_train_save_reload_predict_and_explain(family: str, backbones: dict[str, Path], home: Path, frame) -> None:
    run_dir = home / "runs" / family
    config = training.validate(
        {
            "workspace": str(home),
            "model": str(backbones[family]),
            "input_format": "prompt" if family == "roberta" else "baseline",
            "head": "entity_start",
            "type_language": "ko",
            "max_steps": 3,
            "batch_size": 8,
            "max_length": 64,
            "lr": 1e-3,
            "logging_steps": 1,
            "early_stopping_patience": 0,
            "cpu_threads": 1,
        }
    )
    with restore_torch_threads():
        summary = training.train(config, run_dir)
    assert summary["status"] == "succeeded", summary
    assert summary["dev"]["n"] > 0 and 0 <= summary["dev"]["micro_f1"] <= 100

    model, tokenizer, meta = re_model.load_run_model(run_dir)
    probs = re_model.predict_proba(model, tokenizer, frame.head(5), meta=meta)
    assert probs.shape == (5, len(KLUE_SCHEMA.labels)) and np.allclose(probs.sum(axis=1), 1.0)

    explainer = ex.load_explainer(run_dir)
    example = example_from_row(frame.iloc[0])
    result = ex.explain(explainer, example, methods=("integrated_gradients", "occlusion"), ks=None)
    assert set(result.attributions) == {"integrated_gradients", "occlusion"}
    assert abs(float(np.sum(result.prediction.probs)) - 1.0) < 1e-4
    maps = attention(explainer, example, layers=[0])
    assert maps.attention.shape[0] == 1 and list(maps.layers) == [0]
