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
