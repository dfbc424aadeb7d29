"""The training entrypoint: config validation, the run folder, cancel (core.train.training and its siblings)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.common.schema import KLUE_LABELS
from core.data.importing import DEMO_NAME, seed_demo
from core.store.workspace import Split, Workspace
from core.train import config as train_config
from core.train.config import DEMO_DATASET, TrainConfig, config_help, load_config, parse_overrides
from core.train.config import ConfigError as TrainConfigError
from core.train.metrics import read_submission
from core.train.model import load_run_model, predict_proba
from core.train.training import train, validate


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    seed_demo(ws)
    return ws


def base(workspace: Workspace, **options: Any) -> dict[str, Any]:
    """A tiny, quick run: a few steps of a narrow batch, evaluated twice."""
    quick = {"max_steps": 6, "batch_size": 8, "eval_steps": 3, "logging_steps": 2, "eval_batch_size": 256}
    return {"workspace": str(workspace.root), **quick, **options}


def test_demo_name_matches_importing() -> None:
    assert DEMO_DATASET == DEMO_NAME == TrainConfig().dataset


def test_every_option_has_a_default_and_a_description() -> None:
    text = config_help()
    for name, value in TrainConfig().to_dict().items():
        assert f"  {name} " in text
        assert f"(default: {json.dumps(value, ensure_ascii=False)})" in text


def refused(config: dict[str, Any], match: str) -> str:
    with pytest.raises(TrainConfigError, match=match) as info:
        validate(config)
    message = str(info.value)
    assert "\n" not in message  # one clear line, no traceback
    return message


def test_bad_configs_are_refused_with_one_clear_message(workspace: Workspace, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(train_config, "hub_unavailable", lambda model: None)  # a hub that answers
    ws = str(workspace.root)
    assert "did you mean 'epochs'" in refused({"workspace": ws, "epoch": 3}, r"Unknown option 'epoch'")
    refused({"workspace": ws, "model": "./models/missing-bert"}, r"model path './models/missing-bert' does not exist")
    refused({"workspace": ws, "model": "/no/such/model"}, "does not exist")
    (tmp_path / "not-a-model").mkdir()
    refused({"workspace": ws, "model": str(tmp_path / "not-a-model")}, "has no config.json")
    assert validate({"workspace": ws, "model": "klue/roberta-base"}).model == "klue/roberta-base"  # the hub has it
    labels = [*KLUE_LABELS[:-1], "per:favourite_food"]
    message = refused({"workspace": ws, "labels": labels}, "labels do not match dataset")
    assert "per:religion" in message and "per:favourite_food" in message
    assert validate({"workspace": ws, "labels": list(reversed(KLUE_LABELS))}).labels is not None
    refused({"workspace": ws, "dataset": "demo"}, r"Unknown dataset 'demo'.*Did you mean 'demo \(synthetic KLUE-RE\)'")
    refused({"workspace": ws, "split": "holdout"}, r"has no split 'holdout' \(it has: 'default'\)")
    refused({"workspace": str(tmp_path / "nowhere")}, "No workspace at")
    message = refused({"workspace": ws, "lr": -1e-4, "batch_size": 0}, "lr must be greater than 0")
    assert "batch_size must be greater than 0" in message
    refused({"workspace": ws, "lr": "fast"}, "lr must be a number, got 'fast'")
    refused({"workspace": ws, "epochs": True}, "epochs must be a number")
    refused({"workspace": ws, "max_steps": 0}, "max_steps must be -1")
    refused({"workspace": ws, "warmup_ratio": 1.5}, r"warmup_ratio must be in \[0, 1\)")
    refused({"workspace": ws, "fp16": "maybe"}, "fp16 must be auto, true or false")
    refused({"workspace": ws, "input_format": "typed_marker"}, "did you mean 'typed_entity_marker'")
    refused({"workspace": ws, "head": "mean"}, "head 'mean' is not one of cls, entity_start")
    refused({"workspace": ws, "group_by_length": "sometimes"}, "group_by_length must be true or false")
    # An empty split: every row of it dropped or none assigned.
    info = workspace.dataset(DEMO_NAME)
    current = workspace.split(info.id)
    assert current is not None
    empty = Split("empty", 1, 0.0, 0, [], current.dev_ids, current.created_at, "test")
    workspace.save_split(info.id, empty)
    refused({"workspace": ws, "split": "empty"}, "has no train rows left")


def test_config_files_and_overrides(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("lr: 1e-4\nhead: cls\nlabels: null\n# comment\n", encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"epochs": 2, "fp16": False}), encoding="utf-8")
    # PyYAML reads 1e-4 as text (YAML 1.1); the option's type turns it into the number.
    assert load_config(tmp_path / "a.yaml") == {"lr": "1e-4", "head": "cls", "labels": None}
    assert validate({**load_config(tmp_path / "a.yaml"), "workspace": str(workspace.root)}).lr == 1e-4
    assert load_config(tmp_path / "b.json") == {"epochs": 2, "fp16": False}
    cfg = validate({**load_config(tmp_path / "b.json"), "workspace": str(workspace.root)})
    assert cfg.fp16 == "false" and cfg.epochs == 2.0 and cfg.workspace == str(workspace.root)
    (tmp_path / "bad.yaml").write_text("lr: [1e-4\n", encoding="utf-8")
    with pytest.raises(TrainConfigError, match=r"not valid YAML/JSON \(line"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(TrainConfigError, match="mapping of options"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(TrainConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    assert parse_overrides(["lr=0.5e-3", "group_by_length=false", "model=klue/roberta-base", "fp16=auto"]) == {
        "lr": 0.5e-3,
        "group_by_length": False,
        "model": "klue/roberta-base",
        "fp16": "auto",
    }
    with pytest.raises(TrainConfigError, match="key=value"):
        parse_overrides(["lr"])


def test_cli_check_and_refusal(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--check", "--set", f"workspace={workspace.root}", "--set", "lr=2e-3"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["lr"] == 2e-3 and set(resolved) == set(TrainConfig().to_dict())
    assert main(["train", "--set", f"workspace={workspace.root}", "--set", "learning_rate=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown option 'learning_rate'") and err.count("\n") == 1


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_run_folder(run: Path, workspace: Workspace, status: str) -> dict[str, Any]:
    """Every file of the run-folder contract, with valid contents."""
    config = json.loads((run / "config.json").read_text())
    assert set(config) == set(TrainConfig().to_dict())
    records = read_jsonl(run / "metrics.jsonl")
    kinds = {r["kind"] for r in records}
    assert {"progress", "train", "eval", "end"} <= kinds
    assert records[-1]["kind"] == "end" and records[-1]["status"] == status
    for r in records:
        assert isinstance(r["wall_s"], float) and r["step"] >= 0 and r["max_steps"] >= r["step"]
        assert all(v is not None for v in r.values())
    train_rec = next(r for r in records if r["kind"] == "train")
    assert {"loss", "lr", "epoch"} <= set(train_rec)
    eval_rec = next(r for r in records if r["kind"] == "eval")
    assert 0 <= eval_rec["eval_micro_f1"] <= 100 and 0 <= eval_rec["eval_auprc"] <= 100
    assert any("samples_per_s" in r for r in records if r["kind"] == "progress")
    assert "training" in (run / "train.log").read_text(encoding="utf-8")

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == status
    assert isinstance(summary["best_step"], int) and isinstance(summary["truncated_entity_rows"], int)
    assert summary["dev"]["n"] == 300 and set(summary["dev"]) == {"micro_f1", "auprc", "n"}
    assert summary["train_samples_per_s"] > 0
    assert summary["wall_s"] > 0 and summary["predictions"] == ["dev_predictions.csv", "test_predictions.csv"]

    info = workspace.dataset(DEMO_NAME)
    split = workspace.split(info.id)
    assert split is not None
    dev_ids, dev_probs = read_submission(run / "dev_predictions.csv", label_names=KLUE_LABELS)
    assert sorted(dev_ids) == sorted(split.dev_ids)
    np.testing.assert_allclose(dev_probs.sum(axis=1), 1.0, atol=1e-9)
    test_ids, _ = read_submission(run / "test_predictions.csv", label_names=KLUE_LABELS)
    assert test_ids == workspace.current_frame(info.id, "test")["id"].astype(str).tolist()

    # The checkpoint reloads and predicts the very probabilities of dev_predictions.csv.
    model, tokenizer, meta = load_run_model(run)
    frame = workspace.current_frame(info.id, "train")
    dev = frame[frame["id"].isin(set(split.dev_ids))].reset_index(drop=True)
    probs = predict_proba(model, tokenizer, dev, meta=meta, batch_size=256)
    by_id = dict(zip(dev_ids, dev_probs, strict=True))
    np.testing.assert_allclose(probs, np.stack([by_id[i] for i in dev["id"].astype(str)]), atol=1e-12)
    assert not (run / "_trainer").exists()
    return summary


def test_short_run_writes_the_whole_run_folder(workspace: Workspace, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "job_config.json").write_text("{}")  # files the job runner put there first stay
    summary = train(base(workspace), run)
    assert (run / "job_config.json").exists()
    check_run_folder(run, workspace, "succeeded")
    assert summary["steps"] == 6 and summary["best_step"] in (3, 6)
    assert summary["truncated_entity_rows"] == 0 and summary["n_train"] == 2700
    assert summary["test"]["n"] == 800  # the demo's test part carries gold labels
    evals = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [3, 6]


def test_other_format_head_and_loss(workspace: Workspace, tmp_path: Path) -> None:
    options = {"input_format": "entity_marker", "head": "cls", "loss": "focal", "max_steps": 2, "eval_steps": 0}
    summary = train(base(workspace, **options), tmp_path / "run")
    # Two steps are less than an epoch: no evaluation during training, one point written afterwards.
    evals = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "eval"]
    assert len(evals) == 1 and evals[0]["step"] == 2
    _, tokenizer, meta = load_run_model(tmp_path / "run")
    assert meta["input_format"] == "entity_marker" and "[E1]" in tokenizer.get_added_vocab()
    assert summary["status"] == "succeeded"


def test_stop_mid_run_is_cancelled_with_files_written(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESTUDIO_CANCEL_BUDGET_S", "600")  # a busy machine must not leave files pending here
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 8  # a few steps in

    summary = train(base(workspace, max_steps=200), tmp_path / "run", stop=stop)
    assert summary["status"] == "cancelled" and summary["stop_reason"] == "stop requested"
    assert 3 <= summary["steps"] < 200
    check_run_folder(tmp_path / "run", workspace, "cancelled")


def test_sigterm_stops_at_the_next_step(workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTUDIO_CANCEL_BUDGET_S", "600")  # a busy machine must not leave files pending here
    before = signal.getsignal(signal.SIGTERM)
    calls = {"n": 0}

    def send_sigterm_once() -> bool:
        # The real signal path: SIGTERM to this very process while the Trainer is stepping.
        calls["n"] += 1
        if calls["n"] == 8:
            os.kill(os.getpid(), signal.SIGTERM)
        return False

    summary = train(base(workspace, max_steps=200), tmp_path / "run", stop=send_sigterm_once)
    assert summary["status"] == "cancelled" and summary["stop_reason"] == "SIGTERM"
    assert summary["steps"] < 200
    assert signal.getsignal(signal.SIGTERM) == before  # handler restored
    check_run_folder(tmp_path / "run", workspace, "cancelled")
    assert "SIGTERM received" in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")


def test_failure_writes_a_failed_summary(workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.train.model

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(core.train.model, "save_checkpoint", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        train(base(workspace, max_steps=1), tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and "disk full" in summary["error"]
    assert read_jsonl(tmp_path / "run" / "metrics.jsonl")[-1] == {
        "kind": "end",
        "status": "failed",
        "wall_s": pytest.approx(summary["wall_s"], abs=1.0),
    }
    assert not (tmp_path / "run" / "_trainer").exists()


def test_fp16_without_a_gpu_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: fp16 is allowed here")
    with pytest.raises(TrainConfigError, match="fp16 needs a CUDA GPU"):
        train(base(workspace, fp16="true"), tmp_path / "run")
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"
    # auto never turns mixed precision on without a GPU.
    summary = train(base(workspace, fp16="auto", bf16="auto", max_steps=1), tmp_path / "auto")
    assert summary["precision"] == "fp32" and summary["device"] == "cpu"


@pytest.mark.slow
def test_demo_training_reaches_80_micro_f1(workspace: Workspace, tmp_path: Path) -> None:
    """The tiny demo preset, shortened to the fewest epochs that still clear the target with room."""
    summary = train(
        {"workspace": str(workspace.root), "epochs": 6, "batch_size": 64, "lr": 3e-3, "eval_batch_size": 300},
        tmp_path / "run",
    )
    assert summary["status"] == "succeeded"
    assert summary["dev"]["micro_f1"] >= 80, summary["dev"]
    assert summary["dev"]["auprc"] >= 60, summary["dev"]
    dev = pd.read_csv(tmp_path / "run" / "dev_predictions.csv")
    assert len(dev) == 300
