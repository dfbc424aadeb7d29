"""Type-restricted classification (core.train.restriction, REModel.set_restriction): the allowed table, its file,
the masked logits, and a restricted run's predictions, reload and Explain. Also the ``report_to`` option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.analysis import explain as explain_mod
from core.analysis.attributions import integrated_gradients, occlusion, predict
from core.analysis.explain_encoding import example_from_row
from core.common.schema import KLUE_LABELS, NO_RELATION
from core.data.importing import seed_demo
from core.evaluate import restriction as evaluate_restriction
from core.store.runs import HEAD_FILE, RESTRICTION_FILE
from core.store.workspace import Workspace
from core.train import config as train_config
from core.train import restriction
from core.train.config import ConfigError, TrainConfig, check_values, config_help
from core.train.dataset import load_data
from core.train.metrics import read_submission
from core.train.model import REModel, add_type_pairs, load_run_model, predict_proba, save_checkpoint
from core.train.restriction import AllowedRelations, allowed_table, load_allowed, unseen_counts
from core.train.training import train, validate
from tests.helpers.frames import make_frame

LABELS = ("no_relation", "per:title", "per:employee_of", "org:members")


def typed_frame() -> pd.DataFrame:
    rows = [
        {"sentence": "김철수 교수", "subj": (0, 2), "obj": (4, 5), "obj_type": "POH", "label": "per:title"},
        {"sentence": "김철수 삼성", "subj": (0, 2), "obj": (4, 5), "obj_type": "ORG", "label": "per:employee_of"},
        {"sentence": "삼성 한화", "subj": (0, 1), "obj": (3, 4), "subj_type": "ORG", "label": "org:members"},
        {"sentence": "김철수 한화", "subj": (0, 2), "obj": (4, 5), "obj_type": "ORG", "label": "no_relation"},
    ]
    return make_frame(rows)


# -- the table ---------------------------------------------------------------------------------------------


def test_allowed_table_from_training_rows() -> None:
    table = allowed_table(typed_frame(), LABELS)
    assert table.pairs == (("ORG", "ORG"), ("PER", "ORG"), ("PER", "POH"))
    assert table.allowed("PER", "POH") == ("no_relation", "per:title")
    assert table.allowed("PER", "ORG") == ("no_relation", "per:employee_of")
    assert table.allowed("ORG", "ORG") == ("no_relation", "org:members")
    assert table.allowed("LOC", "LOC") is None  # never seen: unrestricted
    rows = table.row_mask(["PER", "LOC"], ["POH", "DAT"])
    assert rows.tolist() == [[True, True, False, False], [True, True, True, True]]
    assert table.pair_index(["ORG", "PER", "X"], ["ORG", "POH", "Y"]).tolist() == [0, 2, -1]
    counts = unseen_counts(table, {"dev": make_frame([{"sentence": "ab", "subj": (0, 0), "obj": (1, 1)}]), "x": None})
    assert counts == {"dev": 0}


def test_evaluate_shares_the_one_builder() -> None:
    assert evaluate_restriction.allowed_relations is restriction.allowed_relations
    assert evaluate_restriction.AllowedRelations is AllowedRelations


def test_table_file_round_trip_and_label_order(tmp_path: Path) -> None:
    table = allowed_table(typed_frame(), LABELS)
    back = AllowedRelations.from_json(json.loads(json.dumps(table.to_json())))
    assert back.pairs == table.pairs and back.label_names == table.label_names
    assert np.array_equal(back.mask, table.mask)
    reordered = table.in_order(tuple(reversed(LABELS)))
    for pair in table.pairs:
        assert set(reordered.allowed(*pair)) == set(table.allowed(*pair))
    restriction.save_allowed(table, tmp_path)
    (tmp_path / HEAD_FILE).write_text(json.dumps({"restriction": RESTRICTION_FILE}))
    assert load_allowed(tmp_path).to_dict() == table.to_dict()
    (tmp_path / RESTRICTION_FILE).unlink()
    with pytest.raises(restriction.RestrictionFileError, match="missing"):
        load_allowed(tmp_path)
    (tmp_path / HEAD_FILE).write_text("{}")
    assert load_allowed(tmp_path) is None
    with pytest.raises(ValueError, match="version"):
        AllowedRelations.from_json({"labels": []})


# -- the model ---------------------------------------------------------------------------------------------


def small_model(labels: tuple[str, ...] = LABELS) -> REModel:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    model = REModel(BertModel(config), labels=labels, head="cls")
    with torch.no_grad():
        model.classifier.weight.mul_(20.0)
    return model.eval()


def test_masked_logits_in_loss_and_prediction() -> None:
    model = small_model()
    batch = {"input_ids": torch.randint(5, 50, (3, 6)), "attention_mask": torch.ones(3, 6, dtype=torch.long)}
    free = torch.softmax(model(**batch).logits, dim=-1)
    model.set_restriction(allowed_table(typed_frame(), LABELS))
    pairs = torch.as_tensor(model.type_pair_ids(["PER", "ORG", "LOC"], ["POH", "ORG", "LOC"]))
    out = model(**batch, type_pair=pairs, labels=torch.tensor([1, 3, 2]))
    probs = torch.softmax(out.logits.double(), dim=-1)
    assert probs[0, 2:].tolist() == [0.0, 0.0] and probs[1, 1:3].tolist() == [0.0, 0.0]
    assert torch.allclose(probs[2], free[2].double(), atol=1e-6)  # unseen pair: unrestricted
    assert torch.isfinite(out.loss)
    out.loss.backward()
    with pytest.raises(ValueError, match="type_pair"):
        model(**batch)
    model.set_restriction(None)
    assert model.restriction is None and "restriction" not in model.meta
    with pytest.raises(ValueError, match="not type-restricted"):
        model.type_pair_ids(["PER"], ["POH"])


def test_type_pairs_join_the_features() -> None:
    model = small_model()
    frame = typed_frame()
    features = [{"input_ids": [1, 2]} for _ in range(len(frame))]
    assert add_type_pairs(model, features, frame) == [{"input_ids": [1, 2]}] * 4
    model.set_restriction(allowed_table(frame.iloc[:2], LABELS))  # ORG-ORG unseen
    assert [f["type_pair"] for f in add_type_pairs(model, features, frame)] == [1, 0, 2, 0]


# -- options -----------------------------------------------------------------------------------------------


def test_options_are_documented_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    text = config_help()
    for name in ("restrict_types", "report_to", "augment_entity_swap", "augment_word_mask", "augment_entity_replace"):
        assert f"  {name} " in text
    defaults = TrainConfig()
    assert not defaults.restrict_types and defaults.report_to == "none"
    assert not defaults.augment_entity_swap and defaults.augment_word_mask == defaults.augment_entity_replace == 0

    def problems(**options: object) -> list[str]:
        cfg = train_config.resolve({"model": "tiny", **options})
        return [p for p in check_values(cfg) if p.startswith(("report_to", "augment"))]

    import transformers.integrations as integrations

    monkeypatch.setattr(integrations, "get_available_reporting_integrations", lambda: ["tensorboard"])
    assert problems(report_to="none") == []
    assert problems(report_to=" TensorBoard ") == []
    assert train_config.resolve({"report_to": ["tensorboard", "tensorboard"]}).report_to == "tensorboard"
    assert problems(report_to="mlflow,tensorboard") == [
        "report_to mlflow: not installed on this machine (pip install mlflow)"
    ]
    assert "did you mean 'wandb'" in problems(report_to="wandbb")[0]
    assert "cannot be combined" in problems(report_to="none,tensorboard")[0]
    assert problems(augment_word_mask=1.0) == ["augment_word_mask must be in [0, 1), got 1.0"]
    assert problems(augment_entity_replace=-0.1) == ["augment_entity_replace must be in [0, 1], got -0.1"]
    with pytest.raises(ConfigError, match=r"^Config refused: report_to mlflow: not installed") as info:
        validate({"report_to": "mlflow"}, check_data=False)
    assert "\n" not in str(info.value)


# -- a restricted run ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def restricted_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Workspace, dict]:
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    seed_demo(ws)
    config = {"workspace": str(ws.root), "restrict_types": True, "folds": 2, "fold": 0, "max_steps": 4}
    config |= {"batch_size": 8, "eval_steps": 2, "logging_steps": 2, "eval_batch_size": 256, "lr": 1e-2}
    run = tmp_path_factory.mktemp("run")
    summary = train(config, run)
    assert summary["status"] == "succeeded"
    return run, ws, config


@pytest.mark.slow
def test_restricted_run_never_predicts_outside_the_table(restricted_run: tuple[Path, Workspace, dict]) -> None:
    run, _, config = restricted_run
    data = load_data(validate(config))
    summary = json.loads((run / "summary.json").read_text())
    table = load_allowed(run)
    assert table is not None and table.label_names == data.labels
    assert summary["restriction"] == {
        "pairs": len(table.pairs),
        "unseen_pair_rows": unseen_counts(table, {"dev": data.dev, "holdout": data.holdout, "test": data.test}),
    }
    assert table.to_dict() == allowed_table(data.train, data.labels).to_dict()  # the rows it learned from
    assert json.loads((run / "checkpoint" / HEAD_FILE).read_text())["restriction"] == RESTRICTION_FILE
    for name, frame in (("dev", data.dev), ("oof", data.holdout), ("test", data.test)):
        ids, probs = read_submission(run / f"{name}_predictions.csv", label_names=data.labels)
        rows = frame.set_index(frame["id"].astype(str)).loc[ids]
        allowed = table.row_mask(rows["subj_type"], rows["obj_type"])
        seen = table.pair_index(rows["subj_type"], rows["obj_type"]) >= 0
        assert seen.all()  # the demo's types are all seen in training
        assert allowed[np.arange(len(ids)), probs.argmax(axis=1)].all()
        assert np.abs(probs[~allowed]).max() < 1e-12
        assert (~allowed).any()  # the table does restrict something


@pytest.mark.slow
def test_restricted_run_reloads_and_explains_with_its_table(restricted_run: tuple[Path, Workspace, dict]) -> None:
    run, _, config = restricted_run
    data = load_data(validate(config))
    model, tokenizer, meta = load_run_model(run)
    assert model.restriction is not None
    frame = data.dev.head(40).copy()
    probs = predict_proba(model, tokenizer, frame, meta=meta)
    allowed = model.restriction.row_mask(frame["subj_type"], frame["obj_type"])
    assert np.abs(probs[~allowed]).max() < 1e-12
    # A pair training never saw (a LOC subject) falls back to no restriction: every class keeps some mass.
    unseen = frame.head(3).assign(subj_type="LOC", obj_type="LOC")
    assert (predict_proba(model, tokenizer, unseen, meta=meta) > 0).all()
    # Explain applies the same table: its probabilities are the run's, and attributions run through it.
    explain_mod.clear_cache()
    explainer = explain_mod.load_explainer(run)
    row = frame.iloc[0]
    prediction = predict(explainer, example_from_row(row))
    assert np.allclose(prediction.probs, probs[0], atol=1e-6)
    forbidden = [label for label, ok in zip(data.labels, allowed[0], strict=True) if not ok]
    assert forbidden and all(prediction.probs[data.labels.index(label)] < 1e-12 for label in forbidden)
    assert prediction.pred_label in table_labels(model, row)
    ig = integrated_gradients(explainer, example_from_row(row), n_steps=8)
    assert np.isfinite(ig.delta) and ig.f_x == pytest.approx(prediction.probs[ig.target], abs=1e-5)
    occlusion(explainer, example_from_row(row))
    # Saving the reloaded model again keeps the table; an unrestricted save drops a stale file.
    again = save_checkpoint(model, tokenizer, run.parent / "again")
    assert load_allowed(again).to_dict() == model.restriction.to_dict()
    model.set_restriction(None)
    save_checkpoint(model, tokenizer, again)
    assert not (again / RESTRICTION_FILE).exists() and load_allowed(again) is None


def table_labels(model: REModel, row: pd.Series) -> tuple[str, ...]:
    allowed = model.restriction.allowed(str(row["subj_type"]), str(row["obj_type"]))
    return allowed if allowed is not None else tuple(model.labels)


def test_no_relation_is_always_allowed() -> None:
    table = allowed_table(typed_frame().assign(label="per:title"), KLUE_LABELS)
    assert all(NO_RELATION in table.allowed(*pair) for pair in table.pairs)
