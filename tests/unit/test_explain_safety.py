"""core.analysis.explain on checkpoints whose files are there but do not load: a corrupt ``pytorch_model.bin``,
a cut-short ``model.safetensors``, a ``config.json`` or ``re_head.json`` that is not JSON. Each is a
:class:`core.analysis.explain_load.CheckpointError` naming the run and the file, never the server folder, and never
a bare UnpicklingError / SafetensorError / OSError that would reach the page as a traceback.

:func:`register_run` records a checkpoint folder (or none) as a succeeded job with dev predictions,
without training: the AppTest and browser tests of the safety fixes import it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from core import jobs
from core.analysis import explain as ex
from core.analysis.attributions import predict
from core.analysis.ensemble_members import submission_order
from core.analysis.explain_load import CheckpointError
from core.store.workspace import Workspace
from core.train.metrics import write_submission
from tests.unit.test_explain import _tiny_checkpoint, hf_classifier, korean

#: Markdown and HTML images pointing at a documentation address (TEST-NET-3): a page that renders either
#: asks that host for it.
MD_IMG = "![x](http://203.0.113.9/p.png)"
HTML_IMG = "<img src=http://203.0.113.9/q.png>"


def register_run(
    home: str | os.PathLike[str], name: str, *, checkpoint_run: Path | None = None, seed: int = 0
) -> jobs.Job:
    """A succeeded training job of the demo dataset in ``home``, without training.

    The run folder gets ``summary.json`` and random but valid ``dev_predictions.csv`` (so the Ensemble
    view lists it) and, when given, a copy of ``checkpoint_run`` (a run folder with ``checkpoint/``, for
    the Explain view). The job goes queued, running (owned by this process, so a watcher leaves it
    alone), succeeded: as the job system records a run.
    """
    ws = Workspace(home)
    info = ws.datasets()[-1]
    split = ws.split(info.id)
    assert split is not None
    store = jobs.JobStore(str(home))
    job = store.create(
        name=name,
        command=jobs.training_command(),
        kind="train",
        config={"workspace": str(home), "dataset": info.name},
    )
    me = psutil.Process()
    store.transition(job.id, jobs.RUNNING, pid=me.pid, pgid=os.getpgid(me.pid), proc_start_time=me.create_time())
    run = Path(job.run_dir)
    if checkpoint_run is not None:
        shutil.copytree(checkpoint_run, run, dirs_exist_ok=True)
    labels = submission_order(info.schema_name, info.labels)
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(labels)), size=len(split.dev_ids))
    write_submission(run / "dev_predictions.csv", split.dev_ids, probs, label_names=labels)
    summary = {"status": "succeeded", "dataset_id": info.id, "labels": list(info.labels)}
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    done = store.transition(job.id, jobs.SUCCEEDED, exit_code=0)
    assert done is not None
    return done


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"garbage": b"garbage\x00\x01 not a checkpoint", "cut": data[: len(data) // 2], "empty": b""}[how])


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A tiny RE Studio run folder (``checkpoint/`` inside), untrained: loading is what is tested."""
    return _tiny_checkpoint(tmp_path_factory.mktemp("safety-run"), "typed_entity_marker_punct")


@pytest.fixture(scope="module")
def bin_checkpoint(tmp_path_factory) -> Path:
    """A plain HF classifier saved the old way, weights in ``pytorch_model.bin``."""
    from transformers import AutoModelForSequenceClassification

    folder = hf_classifier(tmp_path_factory.mktemp("safety-bin"), ["no_relation", "per:title"])
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    ex.clear_cache()
    assert ex.load_explainer(folder).labels == ("no_relation", "per:title")  # loads before it is corrupted
    return folder


@pytest.fixture(autouse=True)
def _fresh_cache():
    ex.clear_cache()
    yield
    ex.clear_cache()


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy"))


def _assert_names_only_the_file(exc: CheckpointError, tmp_path: Path, owner: str, file: str) -> None:
    text = str(exc)
    assert text.startswith(f"{owner}: the checkpoint {file} could not be loaded ("), text
    assert exc.owner == owner and exc.file == file
    # The server folder (a temp folder here) is nowhere in it: only the file's own name.
    assert str(tmp_path) not in text and str(tmp_path.resolve()) not in text, text
    assert "/" not in exc.reason, exc.reason


@pytest.mark.parametrize("how", ["garbage", "cut", "empty"])
def test_a_corrupt_pytorch_model_bin_names_the_file(bin_checkpoint, tmp_path, how):
    folder = _copy(bin_checkpoint, tmp_path)
    corrupt(folder / "pytorch_model.bin", how)
    with pytest.raises(CheckpointError) as info:
        ex.load_explainer(folder, owner="run #7 nightly")
    _assert_names_only_the_file(info.value, tmp_path, "run #7 nightly", "pytorch_model.bin")
    # torch's advice to load with weights_only=False (arbitrary code) is not passed on.
    assert "weights_only" not in str(info.value)


@pytest.mark.parametrize(
    ("file", "how"),
    [
        ("model.safetensors", "garbage"),
        ("model.safetensors", "cut"),
        ("model.safetensors", "empty"),
        ("config.json", "garbage"),
        ("config.json", "cut"),
        ("re_head.json", "garbage"),
        ("tokenizer.json", "cut"),
    ],
)
def test_a_corrupt_run_checkpoint_names_the_run_and_the_file(run_folder, tmp_path, file, how):
    folder = _copy(run_folder, tmp_path)
    corrupt(folder / "checkpoint" / file, how)
    with pytest.raises(CheckpointError) as info:
        ex.load_explainer(folder, owner="run #3 tiny")
    _assert_names_only_the_file(info.value, tmp_path, "run #3 tiny", file)
    assert isinstance(info.value, ValueError)  # callers that catch ValueError keep working


def test_without_an_owner_a_run_is_called_by_its_folder_name(run_folder, tmp_path):
    folder = _copy(run_folder, tmp_path)
    corrupt(folder / "checkpoint" / "model.safetensors", "garbage")
    with pytest.raises(CheckpointError, match=r"^run copy: the checkpoint model\.safetensors could not be loaded"):
        ex.load_explainer(folder)


def test_missing_files_of_a_run_are_named(run_folder, tmp_path):
    folder = _copy(run_folder, tmp_path)
    (folder / "checkpoint" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError) as info:
        ex.load_explainer(folder, owner="run #3 tiny")
    assert info.value.file == "model.safetensors" and info.value.reason == "the file is missing"
    # A run whose checkpoint lost re_head.json is not retried as a plain HF checkpoint (whose error
    # would name the server folder).
    (folder / "checkpoint" / "re_head.json").unlink()
    with pytest.raises(CheckpointError) as info:
        ex.load_explainer(folder, owner="run #3 tiny")
    assert str(info.value) == "run #3 tiny: the checkpoint re_head.json could not be loaded (the file is missing)."


def test_a_failed_load_is_not_kept_and_a_repaired_checkpoint_loads(run_folder, tmp_path):
    folder = _copy(run_folder, tmp_path)
    weights = folder / "checkpoint" / "model.safetensors"
    good = weights.read_bytes()
    corrupt(weights, "cut")
    for _ in range(2):  # the same error again, not a stale lock or a half-made model
        with pytest.raises(CheckpointError):
            ex.load_explainer(folder)
    assert not ex._LOADING
    weights.write_bytes(good)
    explainer = ex.load_explainer(folder)
    assert predict(explainer, korean())["pred_label"] in explainer.labels


def test_a_folder_that_is_no_checkpoint_keeps_its_message(tmp_path):
    with pytest.raises(ValueError, match="not a loadable sequence-classification checkpoint") as info:
        ex.load_explainer(tmp_path / "nowhere")
    assert not isinstance(info.value, CheckpointError)


def test_a_corrupt_hf_config_is_a_checkpoint_error(bin_checkpoint, tmp_path):
    folder = _copy(bin_checkpoint, tmp_path)
    corrupt(folder / "config.json", "garbage")
    with pytest.raises(CheckpointError) as info:
        ex.load_explainer(folder, owner="the team's model")
    _assert_names_only_the_file(info.value, tmp_path, "the team's model", "config.json")
    assert "not valid JSON" in info.value.reason
