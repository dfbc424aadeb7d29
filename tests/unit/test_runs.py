"""Run-folder readers: torn metric lines, smoothing, config diff, log tail."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.store import runs


def test_read_metrics_ignores_a_line_being_written_and_torn_lines(tmp_path):
    lines = [json.dumps({"kind": "train", "step": s, "loss": 1.0 / s}) for s in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n{not json}\n" + '{"kind": "train", "st')
    frame = runs.read_metrics(tmp_path)
    assert frame["step"].tolist() == [1, 2, 3]
    assert runs.read_metrics(tmp_path / "missing").empty


def test_smooth_is_debiased_and_zero_weight_is_identity():
    values = np.array([1.0, 1.0, np.nan, 1.0])
    out = runs.smooth(values, weight=0.9)
    assert np.allclose(out[[0, 1, 3]], 1.0) and np.isnan(out[2])  # constant input stays constant
    raw = np.array([0.0, 10.0])
    assert np.array_equal(runs.smooth(raw, weight=0.0), raw)
    assert runs.smooth(raw, weight=0.5)[1] == pytest.approx((0.5 * 0 + 0.5 * 10) * 0.5 / (1 - 0.25) * 2)


def test_curves_and_config_diff(tmp_path):
    for name, f1 in (("a", 50.0), ("b", 70.0)):
        d = tmp_path / name
        d.mkdir()
        recs = [{"kind": "train", "step": 1, "loss": 2.0, "lr": 1e-3}, {"kind": "eval", "step": 2, "eval_micro_f1": f1}]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    frame = runs.curves({"a": tmp_path / "a", "b": tmp_path / "b"})
    f1 = frame[frame["metric"] == "eval_micro_f1"]
    assert f1.set_index("run")["value"].to_dict() == {"a": 50.0, "b": 70.0}
    diff = runs.config_diff({"lr": 1e-3, "head": "cls", "seed": 1}, {"lr": 5e-4, "head": "cls"})
    assert diff["option"].tolist() == ["lr", "seed"] and diff.iloc[1]["b"] == "null"


def test_log_tail(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("\n".join(f"line {i}" for i in range(1000)))
    assert runs.log_tail(log, lines=3) == "line 997\nline 998\nline 999"
    assert runs.log_tail(tmp_path / "none.log") == ""


#: Every file and folder a run folder holds, as the trainer, the predict job and the job backends write them.
RUN_FOLDER_LAYOUT = {
    "config": "config.json",
    "metrics": "metrics.jsonl",
    "train_log": "train.log",
    "summary": "summary.json",
    "checkpoint": "checkpoint",
    "checkpoint_head": "checkpoint/re_head.json",
    "dev_predictions": "dev_predictions.csv",
    "oof_predictions": "oof_predictions.csv",
    "test_predictions": "test_predictions.csv",
    "fold_ids": "fold_ids.json",
    "dynamics": "dynamics.npz",
    "predictions_lock": ".predictions.lock",
    "trainer_dir": "_trainer",
    "job_config": "job_config.json",
    "job_log": "job.log",
    "job_exit": "job_exit.json",
}


def test_run_dir_names_the_files_of_the_run_folder_layout(tmp_path):
    run = runs.RunDir(str(tmp_path))
    assert run == runs.RunDir(tmp_path) and run.path == tmp_path
    named = {name for name, value in vars(runs.RunDir).items() if isinstance(value, property)}
    assert named - {"attempt_outputs"} == set(RUN_FOLDER_LAYOUT)
    for attribute, relative in RUN_FOLDER_LAYOUT.items():
        assert getattr(run, attribute) == tmp_path / relative, attribute
    assert {part: run.predictions(part).name for part in ("dev", "oof", "test")} == {
        "dev": "dev_predictions.csv",
        "oof": "oof_predictions.csv",
        "test": "test_predictions.csv",
    }
    assert run.file("summary.json") == run.summary
    assert {p.name for p in run.attempt_outputs} == {
        "summary.json",
        "dev_predictions.csv",
        "test_predictions.csv",
        "oof_predictions.csv",
        "fold_ids.json",
        "dynamics.npz",
    }


def test_the_module_docstring_documents_the_same_layout():
    table = {}
    for line in runs.__doc__.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].startswith("RunDir."):
            table[fields[1].removeprefix("RunDir.")] = fields[0].rstrip("/")
    assert {name: path.rsplit("/", 1)[-1] for name, path in RUN_FOLDER_LAYOUT.items()} == table


def test_pending_predictions_of_an_old_summary_are_the_missing_files(tmp_path):
    run = runs.RunDir(tmp_path)
    run.checkpoint.mkdir()
    run.checkpoint_head.write_text("{}")
    run.summary.write_text(json.dumps({"status": "cancelled", "n_test": 3}))
    run.fold_ids.write_text("{}")
    run.dev_predictions.write_text("id,pred_label,probs\n")
    assert runs.pending_predictions(tmp_path) == ["oof_predictions.csv", "test_predictions.csv"]
