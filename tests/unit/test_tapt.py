"""TAPT (masked-LM pretraining on a dataset's sentences) as a job kind: options refused like a training
config's, every hub family pretrains, a job through the local backend publishes a backbone a fine-tune then
starts from (its run records the TAPT job), a cancel publishes the backbone as trained so far, and a stop
before the first step publishes nothing."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from core import jobs
from core.cli import main as cli_main
from core.data.importing import seed_demo
from core.store import backbones
from core.store.workspace import Workspace
from core.train import training
from core.train.config import ConfigError
from core.train.tapt import tapt, validate_tapt
from core.train.tiny_backbones import FAMILIES, build_tiny_backbone
from tests.helpers.models import restore_torch_threads


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tapt")
    seed_demo(Workspace(root))
    return root


@pytest.fixture(scope="module")
def sentences(home: Path) -> list[str]:
    ws = Workspace(home)
    return ws.current_frame(ws.datasets()[0].id, "train")["sentence"].tolist()[:400]


def small(home: Path, model: str, **over) -> dict:
    """A TAPT config of a few steps on the demo."""
    return {"workspace": str(home), "model": model, "max_steps": 4, "batch_size": 8, "logging_steps": 2, **over}


def wait(store: jobs.JobStore, job_id: int, until, timeout: float) -> jobs.Job:
    # A fresh backend each time, as the app after a restart (or the CLI) would be: nothing holds the job.
    deadline = time.monotonic() + timeout
    while True:
        jobs.LocalBackend(jobs.JobStore(store.root), max_cpu_jobs=1, grace_s=20).reconcile()
        job = store.get_job(job_id)
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_options_are_refused_like_a_training_config(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"'mlm_prob' \(did you mean 'mlm_probability'\?\).*core tapt --help"):
        validate_tapt({"workspace": str(home), "mlm_prob": 0.2})
    with pytest.raises(ConfigError) as refused:
        validate_tapt({"workspace": str(home), "mlm_probability": 1.5, "name": "my model", "epochs": 0})
    message = str(refused.value)
    assert "mlm_probability must be between 0 and 1" in message
    assert "name 'my model' may hold only" in message and "'my-model'" in message
    assert "epochs must be greater than 0" in message
    with pytest.raises(ConfigError, match="Unknown dataset 'nope'"):
        validate_tapt({"workspace": str(home), "dataset": "nope"})
    assert validate_tapt({"workspace": str(home), "max_steps": "5"}).max_steps == 5  # --set gives strings


def test_cli_check_and_a_bad_option(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["tapt", "--home", str(home), "--set", "max_steps=3", "--check"]) == 0
    assert json.loads(capsys.readouterr().out)["max_steps"] == 3
    assert cli_main(["tapt", "--home", str(home), "--set", "lr=-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Config refused: lr must be greater than 0") and "\n" not in err


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_pretrains_and_the_markers_are_in_its_vocabulary(
    home: Path, sentences: list[str], tmp_path: Path, family: str
) -> None:
    base = build_tiny_backbone(tmp_path / family, sentences, family=family, vocab_size=800, hidden=32)
    with restore_torch_threads():
        summary = tapt(small(home, str(base), input_format="typed_entity_marker", name=f"t-{family}"), tmp_path / "run")
    assert summary["status"] == "succeeded" and summary["steps"] == 4
    info = backbones.read_backbone(summary["backbone_dir"])
    assert info is not None and info.kind == "tapt" and info.family is not None and info.status == "succeeded"
    assert summary["markers_added"] > 0  # typed_entity_marker adds <S:PER>-style tokens
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(summary["backbone_dir"])
    assert "<S:PER>" in tokenizer.get_vocab()
    model = AutoModel.from_pretrained(summary["backbone_dir"])
    assert model.get_input_embeddings().num_embeddings >= len(tokenizer)


@pytest.mark.slow
def test_a_tapt_job_publishes_a_backbone_that_a_fine_tune_starts_from(
    home: Path, sentences: list[str], tmp_path: Path
) -> None:
    base = build_tiny_backbone(tmp_path / "roberta", sentences, family="roberta", vocab_size=800, hidden=32)
    store = jobs.JobStore(home)
    config = validate_tapt(small(home, str(base), max_steps=6)).to_dict()
    job = jobs.submit_tapt(store, config, name="tapt ci", backend=jobs.LocalBackend(store, max_cpu_jobs=1))
    assert job.kind == "tapt" and job.command[3] == "tapt"
    job = wait(store, job.id, lambda j: j.is_final, timeout=300)
    assert job.status == "succeeded", job.error
    summary = json.loads((Path(job.run_dir) / "summary.json").read_text())
    metrics = [json.loads(line) for line in (Path(job.run_dir) / "metrics.jsonl").read_text().splitlines()]
    assert any(m["kind"] == "train" and m.get("loss") for m in metrics)  # the live masked-LM loss curve
    info = backbones.read_backbone(summary["backbone_dir"])
    assert info is not None and info.job_id == job.id and info.base_model == str(base)
    assert info.name == f"tapt-job{job.id}-roberta-demo-synthetic-KLUE-RE"
    assert info in backbones.list_backbones(home)

    with restore_torch_threads():
        run = training.train(
            {"workspace": str(home), "model": info.path, "max_steps": 4, "eval_steps": 2, "input_format": "baseline"},
            tmp_path / "ft",
        )
    assert run["status"] == "succeeded" and run["dev"] is not None
    assert run["backbone"]["kind"] == "tapt" and run["backbone"]["tapt_job"] == job.id
    assert run["backbone"]["base_model"] == str(base)


@pytest.mark.slow
def test_cancel_publishes_the_backbone_so_far_and_ends_cancelled(home: Path, tmp_path: Path) -> None:
    store = jobs.JobStore(home)
    config = validate_tapt({"workspace": str(home), "epochs": 50, "logging_steps": 1, "name": "to-cancel"}).to_dict()
    job = jobs.submit_tapt(store, config, name="tapt cancel", backend=jobs.LocalBackend(store, max_cpu_jobs=1))

    def training_started(j: jobs.Job) -> bool:
        metrics = Path(j.run_dir) / "metrics.jsonl"
        return j.is_final or (metrics.exists() and '"kind": "train"' in metrics.read_text())

    job = wait(store, job.id, training_started, timeout=300)
    assert job.status == "running", job.error
    started = time.monotonic()
    jobs.cancel_job(home, job.id, wait=True, grace_s=20)
    job = wait(store, job.id, lambda j: j.is_final, timeout=30)
    assert job.status == "cancelled" and time.monotonic() - started <= 30
    summary = json.loads((Path(job.run_dir) / "summary.json").read_text())
    assert summary["status"] == "cancelled" and 0 < summary["steps"] < summary["max_steps"]
    info = backbones.read_backbone(summary["backbone_dir"])
    assert info is not None and info.status == "cancelled" and info.steps == summary["steps"]
    assert "cancelled" in info.describe
    # nothing half-written is left next to it
    assert not [p for p in backbones.backbones_root(home).iterdir() if p.name.startswith(".staging-")]


def test_a_stop_before_the_first_step_publishes_nothing(home: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    summary = tapt(small(home, "tiny", name="never"), tmp_path / "run", stop=stop)
    assert summary["status"] == "cancelled" and summary["backbone_dir"] is None and summary["steps"] == 0
    assert not (backbones.backbones_root(home) / "never").exists()
