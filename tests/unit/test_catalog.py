"""The backbone catalog (:mod:`core.train.catalog`): the built-in tiny BERT, the workspace's backbone folders and
the models of the local Hugging Face cache, read with the network blocked; tiny family builds that load and
train-validate like the hub models they stand for; and ``python -m core backbones``."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import pytest

from core.cli import main
from core.data.importing import DEMO_NAME, seed_demo
from core.store.backbones import META_FILE, BackboneInfo, staging_dir, write_meta
from core.store.workspace import Workspace
from core.train.catalog import TINY, build_tiny, catalog
from core.train.config import ConfigError, check_values, hub_cache_dir, resolve

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test reads its own (missing) hub cache, never the machine's."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def blocked_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name lookup and connection fails at once, and is recorded."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(str(args[:1]))
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return attempts


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo workspace for the tests that build backbones (each builds under its own name)."""
    home = tmp_path_factory.mktemp("catalog-demo")
    seed_demo(Workspace(home))
    return home


def _blob_repo(cache: Path, repo_id: str, files: dict[str, bytes], *, sha: str = SHA, ref: str | None = "main") -> Path:
    """A hub cache repo laid out as ``hf_hub_download`` writes it: content-named blobs, snapshot symlinks."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / blob).write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob))
    if ref is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(sha)
    return repo


def _config(model_type: str, **extra) -> bytes:
    return json.dumps({"model_type": model_type, "max_position_embeddings": 514, **extra}).encode()


def _backbone_folder(root: Path, name: str, meta: dict | None, *, config: bool = True) -> Path:
    folder = root / "backbones" / name
    folder.mkdir(parents=True)
    if config:
        (folder / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    if meta is not None:
        write_meta(folder, meta)
    return folder


# -- workspace and built-in entries ---------------------------------------------------------------------------


def test_an_empty_workspace_lists_only_the_builtin_tiny(tmp_path: Path) -> None:
    entries = catalog(tmp_path / "nothing-here")
    assert entries == [TINY]
    assert (TINY.value, TINY.source, TINY.family) == ("tiny", "built-in", "bert")


def test_workspace_backbones_are_listed_newest_first_and_half_folders_are_not(tmp_path: Path) -> None:
    tapt = {
        "kind": "tapt",
        "base_model": "klue/roberta-base",
        "family": "roberta",
        "created_at": "2024-05-02T10:00:00+00:00",
        "dataset": "demo",
        "dataset_revision": 3,
        "job_id": 7,
        "steps": 100,
        "max_steps": 200,
        "status": "succeeded",
    }
    _backbone_folder(tmp_path, "tapt-demo", tapt)
    _backbone_folder(tmp_path, "older", {**tapt, "created_at": "2024-05-01T10:00:00+00:00", "status": "cancelled"})
    _backbone_folder(tmp_path, "no-config", tapt, config=False)
    _backbone_folder(tmp_path, "no-record", None)
    (tmp_path / "backbones" / "broken-record").mkdir()
    (tmp_path / "backbones" / "broken-record" / "config.json").write_text("{}")
    (tmp_path / "backbones" / "broken-record" / META_FILE).write_text("[1, 2")
    staging = staging_dir(tmp_path, "half-written")
    (staging / "config.json").write_text("{}")
    write_meta(staging, tapt)

    entries = catalog(tmp_path)
    assert entries[0] == TINY
    assert [e.label for e in entries[1:]] == ["tapt-demo", "older"]
    first, second = entries[1], entries[2]
    assert first.source == "workspace" and first.family == "roberta"
    assert first.value == str((tmp_path / "backbones" / "tapt-demo").resolve())
    assert first.detail == "TAPT of klue/roberta-base on demo (revision 3), job #7, 100 of 200 steps"
    assert second.detail.endswith("— cancelled")
    assert isinstance(first.backbone, BackboneInfo) and first.backbone.job_id == 7
    assert first.size_bytes == sum(f.stat().st_size for f in Path(first.value).iterdir())


# -- the Hugging Face cache ---------------------------------------------------------------------------------


def test_cached_hub_models_are_listed_and_accepted_offline(
    empty_hf_cache: Path, blocked_network: list[str], tmp_path: Path
) -> None:
    import huggingface_hub.constants

    cache = empty_hf_cache
    weights = b"\0" * 2_500
    _blob_repo(cache, "org/kobert-ish", {"config.json": _config("bert"), "model.safetensors": weights})
    _blob_repo(cache, "org/xlmr-ish", {"config.json": _config("xlm-roberta")})
    _blob_repo(cache, "org/no-config", {"tokenizer.json": b"{}"})  # a tokenizer-only repo
    _blob_repo(cache, "org/pinned-only", {"config.json": _config("bert")}, ref=None)  # no main: id cannot load
    dataset = cache / "datasets--org--some-data" / "snapshots" / SHA
    dataset.mkdir(parents=True)
    (dataset / "config.json").write_text("{}")
    # The hub library read its cache folder at import; the catalog and the check read the environment now.
    assert Path(huggingface_hub.constants.HF_HUB_CACHE) != cache

    cached = [e for e in catalog(tmp_path) if e.source == "hf-cache"]
    assert [(e.value, e.family) for e in cached] == [("org/kobert-ish", "bert"), ("org/xlmr-ish", "xlm-roberta")]
    kobert = cached[0]
    assert kobert.size_bytes == len(weights) + len(_config("bert"))
    assert kobert.detail == f"Hugging Face cache, 2.6 kB, revision {SHA[:7]}"
    assert kobert.backbone is None

    assert check_values(resolve({"model": "org/kobert-ish", "workspace": str(tmp_path)})) == []
    # The limit comes from the cached config.json: 514 positions less RoBERTa's two offset slots.
    problems = check_values(resolve({"model": "org/xlmr-ish", "max_length": 600, "workspace": str(tmp_path)}))
    assert problems == ["max_length must be at most 512 for model 'org/xlmr-ish' (its longest input)"]
    assert blocked_network == []


def test_the_cache_folder_follows_hf_home_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    assert hub_cache_dir() == tmp_path / "hf-home" / "hub"
    _blob_repo(tmp_path / "hf-home" / "hub", "org/from-home", {"config.json": _config("electra")})
    assert [(e.value, e.family) for e in catalog(tmp_path) if e.source == "hf-cache"] == [("org/from-home", "electra")]


def test_a_missing_or_unreadable_cache_adds_nothing(
    empty_hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not empty_hf_cache.exists()
    assert catalog(tmp_path) == [TINY]
    empty_hf_cache.write_text("not a folder")
    assert catalog(tmp_path) == [TINY]

    cache = tmp_path / "cache-2"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    _blob_repo(cache, "org/fine", {"config.json": _config("bert")})
    broken = _blob_repo(cache, "org/broken", {"config.json": _config("bert")})
    next((broken / "blobs").iterdir()).unlink()  # a snapshot link to a deleted blob: the library skips the repo
    assert [e.value for e in catalog(tmp_path) if e.source == "hf-cache"] == ["org/fine"]
    # A ref the scan cannot open (a dangling link: root reads through any permission) fails the whole scan.
    (cache / "models--org--fine" / "refs" / "pr").symlink_to(tmp_path / "gone")
    assert catalog(tmp_path) == [TINY]
    assert catalog(tmp_path, include_cache=False) == [TINY]


# -- tiny family builds -------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["roberta", "xlm-roberta"])
def test_a_tiny_family_build_loads_and_trains_like_its_hub_model(demo_home: Path, family: str) -> None:
    from transformers import AutoModel, AutoTokenizer

    from core.train.training import validate

    ws = Workspace(demo_home)
    dataset = ws.dataset(DEMO_NAME)
    vocab_size = 500
    if family == "xlm-roberta":
        # A Unigram vocabulary holds every distinct character: 500 is too few for the demo's Korean sentences,
        # and the floor the refusal names is enough.
        with pytest.raises(ConfigError, match=r"vocab_size 500 is too small .* needs at least \d+\.$") as refused:
            build_tiny(demo_home, family, dataset=DEMO_NAME, vocab_size=vocab_size, hidden=32)
        vocab_size = int(str(refused.value).rsplit(" ", 1)[1].rstrip("."))
    info = build_tiny(demo_home, family, dataset=DEMO_NAME, vocab_size=vocab_size, hidden=32)
    folder = Path(info.path)
    assert folder == (demo_home / "backbones" / f"tiny-{family}-demo-synthetic-KLUE-RE").resolve()
    assert (info.kind, info.family, info.base_model, info.dataset) == ("tiny", family, None, DEMO_NAME)
    assert info.meta["dataset_id"] == dataset.id and info.dataset_revision == ws.revision(dataset.id)
    assert info.meta["sentences"] == len(ws.current_frame(dataset.id, "train"))
    assert info.created_at and info.created_at.endswith("+00:00")

    model = AutoModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == family and model.config.hidden_size == 32
    sentence = ws.current_frame(dataset.id, "train")["sentence"].iloc[0]
    encoded = tokenizer(sentence, return_tensors="pt")
    assert tokenizer.unk_token_id not in encoded["input_ids"][0].tolist()[:5]
    assert model(**encoded).last_hidden_state.shape[-1] == 32
    cfg = validate({"model": str(folder), "workspace": str(demo_home), "max_length": 64})
    assert cfg.model == str(folder)

    (entry,) = [e for e in catalog(demo_home, include_cache=False) if e.value == info.path]
    assert (entry.source, entry.family) == ("workspace", family)
    assert entry.detail == f"tiny random {family} checkpoint (no pretraining)"
    assert not [p for p in (demo_home / "backbones").iterdir() if p.name.startswith(".")]  # no staging left


def test_build_tiny_refuses_unknown_families_names_and_datasets(demo_home: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown backbone family 'robrta' \(did you mean 'roberta'\?\); "):
        build_tiny(demo_home, "robrta", dataset=DEMO_NAME)
    for name in ("../escape", ".hidden", "a b", ""):
        with pytest.raises(ConfigError, match="is not a folder name"):
            build_tiny(demo_home, "bert", dataset=DEMO_NAME, name=name)
    with pytest.raises(ConfigError, match=r"Unknown dataset 'dem' in workspace .*Did you mean 'demo \(synth"):
        build_tiny(demo_home, "bert", dataset="dem")
    with pytest.raises(ConfigError, match="hidden 30 must be a multiple of heads 4"):
        build_tiny(demo_home, "bert", dataset=DEMO_NAME, hidden=30, heads=4)
    with pytest.raises(ConfigError, match="layers must be at least 1, got 0"):
        build_tiny(demo_home, "bert", dataset=DEMO_NAME, layers=0)
    with pytest.raises(ConfigError, match="No workspace at"):
        build_tiny(demo_home / "elsewhere", "bert", dataset=DEMO_NAME)
    assert not (demo_home / "elsewhere").exists()


# -- the command line -----------------------------------------------------------------------------------------


def test_cli_lists_and_builds_backbones(
    demo_home: Path, empty_hf_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _blob_repo(empty_hf_cache, "org/cli-cached", {"config.json": _config("roberta")})
    home = str(demo_home)
    argv = ["backbones", "tiny", "--family", "bert", "--dataset", DEMO_NAME, "--name", "cli-bert"]
    assert main([*argv, "--home", home, "--vocab-size", "500", "--hidden", "32"]) == 0
    folder = capsys.readouterr().out.strip()
    assert folder == str((demo_home / "backbones" / "cli-bert").resolve()) and os.path.isfile(f"{folder}/config.json")

    assert main(["backbones", "--home", home, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["value"] == "tiny" and records[-1]["value"] == "org/cli-cached"
    (built,) = [r for r in records if r["value"] == folder]
    assert built["source"] == "workspace" and built["family"] == "bert" and built["record"]["kind"] == "tiny"
    assert built["record"]["vocab_size"] == 500 and built["size_bytes"] > 0

    assert main(["backbones", "--home", home, "list", "--no-cache"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["value", "source", "family", "detail"]
    assert lines[1].startswith("tiny ") and any(line.startswith(folder) for line in lines)
    assert not any("org/cli-cached" in line for line in lines)

    assert main(["backbones", "tiny", "--home", home, "--family", "gpt2", "--dataset", DEMO_NAME]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "error: Unknown backbone family 'gpt2'; choose one of bert, roberta, xlm-roberta, electra."
    ]
