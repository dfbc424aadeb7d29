"""What the Evaluate view scores: a run's dev predictions against the labels at the revision it trained on and
at the current one (after a correction), its test predictions, an ensemble of runs, and uploaded files; and the
workspace's frame at a past revision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import jobs
from core.common.schema import DataError
from core.evaluate.sources import ensemble_set, row_info, run_sets, upload_set
from core.store.workspace import RowChange, Workspace
from tests.helpers.workspaces import demo_with_runs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The demo with two short finished runs, as the job system leaves them."""
    return demo_with_runs(tmp_path_factory.mktemp("eval-ws"), steps=12)


def test_a_run_gives_dev_and_test_sets_with_rows_and_allowed_relations(home: Path) -> None:
    sets = run_sets(home, 1)
    assert [s.part for s in sets] == ["dev", "test"]
    dev = sets[0]
    frame = Workspace(home).current_frame(1, "train").set_index("id")
    assert dev.n == 300 and dev.probs.shape == (300, 30)
    assert [dev.labels[g] for g in dev.gold[:20]] == frame.loc[list(dev.ids[:20]), "label"].tolist()
    assert dev.rows is not None and dev.rows["id"].tolist() == list(dev.ids)  # aligned by id
    info = row_info(dev.rows)
    assert info is not None and len(info.subj_types) == dev.n
    assert dev.allowed is not None and dev.allowed.allowed("PER", "DAT") is not None
    assert sets[1].n == 800 and sets[1].gold.shape == (800,)


def test_a_correction_after_the_run_adds_the_current_labels_side_by_side(home: Path) -> None:
    ws = Workspace(home)
    dev = run_sets(home, 1)[0]
    before = ws.frame_at(1, "train", ws.revision(1))
    target = dev.ids[0]
    old = dev.labels[dev.gold[0]]
    new = "no_relation" if old != "no_relation" else "per:title"
    version = int(before.set_index("id").loc[target, "_version"])
    ws.apply_changes(1, "train", [RowChange(target, version, {"label": new})], author="t", reason="test")
    try:
        sets = run_sets(home, 1)
        assert [s.name.split(" · ")[1] for s in sets[:2]] == [
            "dev, labels at revision 0",
            f"dev, labels at the current revision {ws.revision(1)}",
        ]
        then, now = sets[0], sets[1]
        assert then.labels[then.gold[0]] == old and now.labels[now.gold[0]] == new
        assert np.array_equal(then.gold[1:], now.gold[1:])
        # the frame at the old revision is the frame before the change, whatever came after
        past = ws.frame_at(1, "train", 0)
        pd.testing.assert_frame_equal(past.drop(columns="_version"), before.drop(columns="_version"))
    finally:
        ws.undo(1, ws.revision(1), author="t")


def test_an_ensemble_of_two_runs(home: Path) -> None:
    ens = ensemble_set(home, [1, 2], dataset=1, method="soft")
    one, two = (run_sets(home, j)[0] for j in (1, 2))
    assert ens.n == one.n and ens.job_ids == (1, 2)
    np.testing.assert_allclose(ens.probs, (one.probs + two.probs) / 2, atol=1e-9)
    with pytest.raises(DataError, match=r"\[99\] are not finished runs"):
        ensemble_set(home, [1, 99], dataset=1)


def test_uploaded_files(home: Path, tmp_path: Path) -> None:
    from core.store.runs import RunDir

    dev = run_sets(home, 1)[0]
    frame = Workspace(home).current_frame(1, "train")
    rows = frame[frame["id"].astype(str).isin(set(dev.ids))]
    gold = tmp_path / "gold.csv"
    rows[["id", "label"]].iloc[::-1].to_csv(gold, index=False)  # another order: aligned by id
    data = home / "demo-source" / "train.csv"  # the imported file: every train row, in KLUE's CSV format
    pred = RunDir(jobs.JobStore(home).get_job(1).run_dir).dev_predictions
    up = upload_set(pred, gold, rows_path=data)
    assert up.n == dev.n and up.rows is not None
    order = [dev.ids.index(i) for i in up.ids]
    np.testing.assert_array_equal(up.gold, dev.gold[order])
    np.testing.assert_allclose(up.probs, dev.probs[order])
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\n" + "\n".join(f"{i},per:nonsense" for i in dev.ids) + "\n")
    with pytest.raises(DataError, match=r"bad\.csv"):
        upload_set(pred, bad)
