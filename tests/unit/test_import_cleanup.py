"""A failed import leaves nothing behind: no dataset, no stored copy, no half-written folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.common.schema import KLUE_SCHEMA, DataError
from core.data.importing import import_dataset, import_uploaded
from core.store.workspace import PartInfo, Workspace


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    from core.data.demo import write_demo_dataset

    out = tmp_path_factory.mktemp("src")
    write_demo_dataset(out, seed=7, n_train=1000, n_test=100)
    return out


def _contents(ws: Workspace) -> tuple[list[str], list[str], list[str]]:
    files = sorted(p.name for p in (ws.root / "files").iterdir())
    folders = sorted(p.name for p in (ws.root / "datasets").iterdir())
    return [d.name for d in ws.datasets()], files, folders


def test_failed_gold_leaves_no_stored_files(tmp_path, src):
    ws = Workspace(tmp_path / "ws")
    import_dataset(ws, "first", src / "train.csv")
    before = _contents(ws)
    short_gold = tmp_path / "gold.csv"
    pd.read_csv(src / "test_gold.csv").head(10).to_csv(short_gold, index=False)
    other_train = tmp_path / "other.csv"
    pd.read_csv(src / "train.csv").head(900).to_csv(other_train, index=False)  # new bytes: a new stored copy
    with pytest.raises(DataError, match="no gold label"):
        import_dataset(ws, "second", other_train, test_path=src / "test.csv", gold_path=short_gold)
    assert _contents(ws) == before


def test_taken_name_is_refused_before_anything_is_stored(tmp_path, src):
    ws = Workspace(tmp_path / "ws")
    import_dataset(ws, "first", src / "train.csv")
    before = _contents(ws)
    files = {"train": ("other.csv", (src / "train.csv").read_bytes()[:-200] + b"\n")}
    with pytest.raises(DataError, match="already exists"):
        import_uploaded(ws, " first ", files)
    assert _contents(ws) == before


def test_failed_import_keeps_a_shared_copy_another_dataset_uses(tmp_path, src):
    ws = Workspace(tmp_path / "ws")
    import_dataset(ws, "first", src / "train.csv")
    before = _contents(ws)
    bad_test = tmp_path / "test.csv"
    bad_test.write_text("id,sentence\n1,nothing here\n")
    with pytest.raises(DataError):
        import_dataset(ws, "second", src / "train.csv", test_path=bad_test)
    assert _contents(ws) == before  # the train copy "first" stored is still there


def test_add_dataset_failure_removes_its_folder(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    info = PartInfo("train", "csv", "train.csv", "", "sha", 3, 3, 0, True, None)
    parts = {"train": (info, small_frame, pd.DataFrame()), "dev": (info, small_frame, pd.DataFrame())}
    with pytest.raises(ValueError, match="unknown part"):
        ws.add_dataset("broken", schema=KLUE_SCHEMA, parts=parts, author="t")
    assert ws.datasets() == [] and list((ws.root / "datasets").iterdir()) == []
