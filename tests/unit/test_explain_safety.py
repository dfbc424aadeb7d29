"""core.analysis.explain on checkpoints whose files are there but do not load: a corrupt ``pytorch_model.bin``,
a cut-short ``model.safetensors``, a ``config.json`` or ``re_head.json`` that is not JSON. Each is a
:class:`core.analysis.explain_load.CheckpointError` naming the run and the file, never the server folder, and never
a bare UnpicklingError / SafetensorError / OSError that would reach the page as a traceback.

The tiny checkpoints come from :mod:`tests.helpers.models`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from core.analysis import explain as ex
from core.analysis.attributions import predict
from core.analysis.explain_load import CheckpointError
from tests.helpers.models import corrupt, hf_classifier, korean, tiny_checkpoint


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A tiny RE Studio run folder (``checkpoint/`` inside), untrained: loading is what is tested."""
    return tiny_checkpoint(tmp_path_factory.mktemp("safety-run"), "typed_entity_marker_punct")


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
    assert predict(explainer, korean()).pred_label in explainer.labels


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
