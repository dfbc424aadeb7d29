"""`python -m core`: the same functions as the views, with one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from core.cli import main

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo-data", str(out)]) == 0
    return out


def test_audit_json_has_the_documented_keys(demo_dir, capsys):
    capsys.readouterr()
    assert main(["audit", str(demo_dir / "train.csv"), "--test", str(demo_dir / "test.csv"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    for key in (
        "rows",
        "invalid_rows",
        "label_counts",
        "duplicates",
        "label_conflicts",
        "offset_mismatches",
        "type_flags",
    ):
        assert key in payload, key
    assert payload["rows"] == 3000
    assert set(payload["duplicates"]) >= {"groups", "extra_rows", "id_groups"}
    assert set(payload["label_conflicts"]) >= {"groups", "rows", "id_groups"}
    flag = payload["type_flags"][0]
    assert set(flag) >= {"id", "role", "type", "label", "suggested_type", "reason"}


def test_audit_plain_text(demo_dir, capsys):
    assert main(["audit", str(demo_dir / "train.csv")]) == 0
    out = capsys.readouterr().out
    assert "3000" in out.replace(",", "") and "duplicate" in out.lower()


def test_unreadable_file_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "cp949.csv"
    bad.write_bytes("id,sentence\n1,이순신\n".encode("cp949"))
    for path in (bad, tmp_path / "missing.csv"):
        proc = subprocess.run(
            [sys.executable, "-m", "core", "audit", str(path), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert (
        "cp949"
        in subprocess.run(
            [sys.executable, "-m", "core", "audit", str(bad)], capture_output=True, text=True, cwd=ROOT
        ).stderr
    )


def test_import_export_split_roundtrip(demo_dir, tmp_path, capsys):
    home = str(tmp_path / "ws")
    assert (
        main(
            [
                "import",
                "demo",
                str(demo_dir / "train.csv"),
                "--test",
                str(demo_dir / "test.csv"),
                "--gold",
                str(demo_dir / "test_gold.csv"),
                "--home",
                home,
            ]
        )
        == 0
    )
    assert main(["split", "demo", "--seed", "1", "--home", home]) == 0
    out = tmp_path / "clean.csv"
    assert main(["export", "demo", "--out", str(out), "--audit-log", str(tmp_path / "log.csv"), "--home", home]) == 0
    clean = pd.read_csv(out)
    original = pd.read_csv(demo_dir / "train.csv")
    pd.testing.assert_frame_equal(clean, original)  # no correction yet: the export is the input
    assert main(["export", "nope", "--out", str(out), "--home", home]) == 2
    assert "No dataset" in capsys.readouterr().err


def test_score_cli_json_and_text(demo_dir, tmp_path, capsys):
    import numpy as np

    from core.common.schema import KLUE_LABELS
    from core.train.metrics import write_submission

    gold = pd.read_csv(demo_dir / "test_gold.csv", dtype={"id": str})
    probs = np.full((len(gold), 30), 0.1 / 29)
    probs[np.arange(len(gold)), [KLUE_LABELS.index(label) for label in gold["label"]]] = 0.9
    write_submission(tmp_path / "pred.csv", gold["id"].tolist(), probs, label_names=list(KLUE_LABELS))
    capsys.readouterr()
    assert main(["score", str(tmp_path / "pred.csv"), "--gold", str(demo_dir / "test_gold.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["micro_f1"] == 100.0 and result["auprc"] == 100.0 and result["n"] == len(gold)
    assert "per_class_f1" in result
    assert main(["score", str(tmp_path / "pred.csv"), "--gold", str(demo_dir / "test_gold.csv")]) == 0
    assert "micro-F1" in capsys.readouterr().out
    assert main(["score", str(tmp_path / "missing.csv"), "--gold", str(demo_dir / "test_gold.csv")]) == 2


def test_seed_queues_three_demo_jobs_once(tmp_path, monkeypatch):
    from core.jobs import JobStore

    monkeypatch.delenv("RESTUDIO_NO_DEMO_JOBS", raising=False)
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")  # queue only: no training behind the test
    home = str(tmp_path / "ws")
    assert main(["seed", "--home", home]) == 0
    assert main(["seed", "--home", home]) == 0  # a second seed adds nothing
    queued = JobStore(home).list_jobs()
    assert [j.status for j in queued] == ["queued"] * 3
    assert len({j.config["input_format"] for j in queued}) == 3

    monkeypatch.setenv("RESTUDIO_NO_DEMO_JOBS", "1")
    other = str(tmp_path / "ws2")
    assert main(["seed", "--home", other]) == 0
    assert JobStore(other).list_jobs() == []


def test_every_user_error_is_one_base_class() -> None:
    from core.analysis.explain_load import CheckpointError
    from core.common import config as server_config
    from core.common.errors import RestudioError
    from core.common.schema import DataError
    from core.jobs import JobError, QueueFull
    from core.serve.auth import AuthConfigError
    from core.store.workspace import AlreadyUndoneError, ConflictError
    from core.train import config as train_config
    from core.train.crossval import CrossvalError
    from core.train.model import ModelNotAvailable
    from core.train.predict import PredictionError

    for cls in (
        DataError,
        server_config.ConfigError,
        train_config.ConfigError,
        JobError,
        QueueFull,
        ConflictError,
        AlreadyUndoneError,
        CrossvalError,
        PredictionError,
        ModelNotAvailable,
        CheckpointError,
        AuthConfigError,
    ):
        assert issubclass(cls, RestudioError), cls


@pytest.mark.parametrize("kind", ["conflict", "job"])
def test_a_refusal_from_any_command_is_one_line_and_exit_2(kind, monkeypatch, capsys) -> None:
    # Before one base class, a JobError or ConflictError out of a command exited 1 as "unexpected".
    from core.data import commands as data_commands
    from core.jobs import JobError
    from core.store.workspace import ConflictError

    error = ConflictError("Row 7 was changed by ann since you opened it.") if kind == "conflict" else JobError("nope")

    def refuse(args):
        raise error

    monkeypatch.setattr(data_commands, "_cmd_datasets", refuse)
    capsys.readouterr()
    assert main(["datasets"]) == 2
    assert capsys.readouterr().err == f"error: {error}\n"
