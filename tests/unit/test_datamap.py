"""Data maps: training dynamics recorded during training (core.train.dynamics), the per-row statistics and
regions (core.analysis.datamap), their alignment with the dataset by id, the finder and the CLI."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from core.analysis import datamap, datamap_finder
from core.cli import main
from core.data.finders import FinderInput
from core.data.importing import seed_demo
from core.store.runs import RunDir
from core.store.workspace import RowChange, Split, Workspace
from core.train.dynamics import DynamicsRecorder, NoDynamicsError, load_dynamics, with_row_index
from core.train.training import train

EPOCHS = 4


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, int, Path, dict[str, Any]]:
    """The demo workspace with a small split (90 train, 45 dev rows) and one 4-epoch run of the tiny model on it,
    in the workspace's runs/ folder: a few seconds, and every train row in every evaluation."""
    ws = Workspace(tmp_path_factory.mktemp("dm-ws"))
    info = seed_demo(ws)
    default = ws.split(info.id)
    assert default is not None
    small = Split("small", 1, 0.33, ws.revision(info.id), default.train_ids[:90], default.dev_ids[:45], "", "test")
    ws.save_split(info.id, small)
    config = {
        "workspace": str(ws.root),
        "split": "small",
        "epochs": EPOCHS,
        "batch_size": 16,
        "eval_batch_size": 64,
        "logging_steps": 5,
        "early_stopping_patience": 0,
        "seed": 3,
    }
    run = ws.root / "runs" / "small"
    summary = train(config, run)
    assert summary["status"] == "succeeded", summary.get("error")
    return ws, info.id, run, summary


def test_a_run_records_every_train_row_by_id_at_every_evaluation(small_run) -> None:
    ws, dataset_id, run, summary = small_run
    assert summary["dynamics"]["file"] == "dynamics.npz" and summary["dynamics"]["evaluations"] == EPOCHS
    assert summary["dynamics"]["record_s"] >= 0
    dyn = load_dynamics(run)
    split = ws.split(dataset_id, "small")
    assert split is not None
    assert sorted(dyn.ids.tolist()) == sorted(split.train_ids)
    assert dyn.gold_prob.shape == (90, EPOCHS) and dyn.pred.shape == (90, EPOCHS)
    # Per-epoch evaluation: every row was trained on once before each evaluation.
    assert np.isfinite(dyn.gold_prob).all() and (dyn.pred >= 0).all()
    assert ((dyn.gold_prob > 0) & (dyn.gold_prob < 1)).all()
    assert np.allclose(dyn.epoch, np.arange(1, EPOCHS + 1)) and (np.diff(dyn.step) > 0).all()
    # The gold label of each row is its dataset label, looked up by id.
    labels = ws.current_frame(dataset_id).set_index("id")["label"]
    assert [dyn.labels[g] for g in dyn.gold] == labels.loc[dyn.ids].tolist()
    assert (dyn.dataset_id, dyn.dataset_revision) == (dataset_id, summary["dataset_revision"])


def forgetting_events(correct: list[bool]) -> int:
    """Toneva et al.'s count as the cartography code's loop writes it."""
    learnt, forgotten = False, 0
    for is_correct in correct:
        if learnt and not is_correct:
            learnt, forgotten = False, forgotten + 1
        elif not learnt and is_correct:
            learnt = True
    return forgotten


def test_statistics_equal_a_direct_computation_from_the_stored_array(small_run) -> None:
    _, _, run, _ = small_run
    with np.load(RunDir(run).dynamics, allow_pickle=False) as npz:
        ids, gold, prob, pred = npz["ids"], npz["gold"], npz["gold_prob"], npz["pred"]
    table = datamap.data_map(load_dynamics(run)).set_index("id")
    assert len(table) == len(ids)
    for i, row_id in enumerate(ids.tolist()):
        values = [float(v) for v in prob[i]]
        correct = [int(p) == int(gold[i]) for p in pred[i]]
        row = table.loc[row_id]
        assert row["confidence"] == pytest.approx(statistics.fmean(values), abs=1e-12)
        assert row["variability"] == pytest.approx(statistics.pstdev(values), abs=1e-12)
        assert row["correctness"] == pytest.approx(sum(correct) / len(correct), abs=1e-12)
        assert row["forgetfulness"] == forgetting_events(correct)
        assert bool(row["learned"]) == any(correct)
        assert row["evaluations"] == len(values)
    # Not a constant: the run learned some rows and not others.
    assert table["confidence"].std() > 0.01 and table["variability"].max() > 0


def test_statistics_skip_the_evaluations_a_row_was_not_trained_before() -> None:
    prob = np.array([[0.2, np.nan, 0.6, 0.9], [np.nan, np.nan, np.nan, np.nan], [0.9, 0.1, 0.8, 0.2]])
    pred = np.array([[1, -1, 0, 0], [-1, -1, -1, -1], [0, 1, 0, 1]])
    stats = datamap.row_statistics(prob, pred, np.array([0, 0, 0]))
    assert stats["confidence"][0] == pytest.approx(statistics.fmean([0.2, 0.6, 0.9]))
    assert stats["variability"][0] == pytest.approx(statistics.pstdev([0.2, 0.6, 0.9]))
    assert stats["correctness"][0] == pytest.approx(2 / 3)
    assert np.isnan(stats["confidence"][1]) and stats["evaluations"][1] == 0 and not stats["learned"][1]
    assert stats["forgetfulness"].tolist() == [0, 0, 2]


def test_regions_follow_the_original_selections() -> None:
    ids = [f"r{i}" for i in range(10)]
    confidence = np.array([0.05, 0.1, 0.15, 0.5, 0.5, 0.5, 0.5, 0.9, 0.95, 0.97])
    variability = np.array([0.01, 0.3, 0.02, 0.35, 0.1, 0.1, 0.4, 0.01, 0.02, 0.01])
    region, masks = datamap.assign_regions(confidence, variability, ids, fraction=0.3)
    # ceil(0.3 * 10) = 3 rows in each selection.
    assert np.flatnonzero(masks["hard_to_learn"]).tolist() == [0, 1, 2]
    assert np.flatnonzero(masks["easy_to_learn"]).tolist() == [7, 8, 9]
    assert np.flatnonzero(masks["ambiguous"]).tolist() == [1, 3, 6]
    # Ambiguous wins where a low-confidence row also varies much ("hard to learn" is low mean *and* low spread).
    expected = ["hard_to_learn", "ambiguous", "hard_to_learn", "ambiguous", "other", "other", "ambiguous"]
    assert region.tolist() == [*expected, "easy_to_learn", "easy_to_learn", "easy_to_learn"]
    with pytest.raises(ValueError, match="fraction"):
        datamap.assign_regions(confidence, variability, ids, fraction=0)


def permuted_copy(run: Path, dest: Path, order: np.ndarray) -> Path:
    """A run folder whose dynamics file lists the same rows in another order."""
    dest.mkdir(parents=True)
    with np.load(RunDir(run).dynamics, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    for name in ("ids", "gold", "gold_prob", "pred"):
        arrays[name] = arrays[name][order]
    np.savez(RunDir(dest).dynamics, **arrays)
    shutil.copy(RunDir(run).config, RunDir(dest).config)
    return dest


def test_rows_are_aligned_by_id_never_by_position(small_run, tmp_path: Path) -> None:
    ws, dataset_id, run, _ = small_run
    order = np.random.default_rng(0).permutation(90)
    moved = permuted_copy(run, tmp_path / "permuted", order)
    # Every evaluation: the copy holds the dynamics file only, not the dev scores that choose the default window.
    a = datamap.run_data_map(run, root=ws, through="all").table.set_index("id")
    b = datamap.run_data_map(moved, root=ws, through="all").table
    assert b["id"].tolist() == a.index[order].tolist()  # the file's order, now another one
    b = b.set_index("id").loc[a.index]
    figures = ["confidence", "variability", "correctness", "forgetfulness", "learned", "region", "model_label"]
    pd.testing.assert_frame_equal(a[figures], b[figures])
    assert (b["label"] == a["label"]).all() and (b["sentence"] == a["sentence"]).all()

    # Joining to a frame in another order: every row gets the label and sentence of its own id.
    frame = ws.current_frame(dataset_id, include_dropped=True).sample(frac=1.0, random_state=1)
    joined = datamap.align_to_dataset(datamap.data_map(load_dynamics(run)), frame)
    by_id = frame.set_index("id")
    assert joined["label"].tolist() == by_id.loc[joined["id"], "label"].tolist()
    assert joined["sentence"].tolist() == by_id.loc[joined["id"], "sentence"].tolist()
    assert not joined["changed"].any() and joined["in_dataset"].all()

    # A copy the run's augmentation added is a training row, not a dataset row: kept, marked, never "changed".
    table = datamap.data_map(load_dynamics(run))
    swap = table.head(1).assign(id=f"{table['id'].iloc[0]}-swap")
    joined = datamap.align_to_dataset(pd.concat([table, swap], ignore_index=True), frame).set_index("id")
    row = joined.loc[swap["id"].iloc[0]]
    assert not row["in_dataset"] and not row["changed"] and not row["dropped"] and pd.isna(row["label"])
    assert datamap.drop_changes(joined.reset_index().tail(1), {}) == []


def test_rows_changed_since_the_run_are_marked(small_run, tmp_path: Path) -> None:
    ws, dataset_id, run, _ = small_run
    copy = Workspace(shutil.copytree(ws.root, tmp_path / "ws"))
    dyn = load_dynamics(run)
    relabelled, dropped, untouched = (str(i) for i in dyn.ids[:3])
    split = copy.split(dataset_id, "small")
    assert split is not None
    dev_row = split.dev_ids[0]  # not a row of the run: changing it marks nothing on the map
    new_label = next(name for name in dyn.labels if name != dyn.labels[dyn.gold[0]])
    copy.apply_changes(
        dataset_id,
        "train",
        [
            RowChange(relabelled, 0, {"label": new_label}),
            RowChange(dropped, 0, drop=True),
            RowChange(dev_row, 0, {"label": new_label}),
        ],
        author="ann",
        reason="test",
    )
    found = datamap.run_data_map(run, root=copy)
    table = found.table.set_index("id")
    assert set(table.index[table["changed"]]) == {relabelled, dropped}
    assert table.loc[relabelled, "label"] == new_label and table.loc[relabelled, "run_label"] != new_label
    assert bool(table.loc[dropped, "dropped"]) and not bool(table.loc[untouched, "dropped"])
    assert found.stale and found.n_changed == 2 and found.current_revision == copy.revision(dataset_id)
    assert datamap.drop_changes(found.table.head(3), {relabelled: 1}) == [
        RowChange(relabelled, 1, drop=True),
        RowChange(untouched, 0, drop=True),
    ]


def test_a_run_without_dynamics_says_so(small_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws, _, _, _ = small_run
    run = tmp_path / "off"
    run.mkdir()
    RunDir(run).dynamics.write_bytes(b"left from an earlier attempt")  # a retry in the folder starts clean
    config = {"workspace": str(ws.root), "split": "small", "max_steps": 2, "batch_size": 8, "record_dynamics": False}
    summary = train(config, run)
    assert summary["status"] == "succeeded" and summary["dynamics"] is None
    assert not RunDir(run).dynamics.exists()
    with pytest.raises(NoDynamicsError, match="no training dynamics"):
        datamap.run_data_map(run, root=ws)
    assert main(["datamap", str(run)]) == 2
    assert "error:" in capsys.readouterr().err

    # A file from a run stopped before its first evaluation: no figures, so no map either.
    empty = tmp_path / "empty"
    empty.mkdir()
    DynamicsRecorder(
        ids=["a"], gold=[0], labels=["x"], path=RunDir(empty).dynamics, dataset_id=1, dataset_revision=0
    ).save()
    with pytest.raises(NoDynamicsError, match="no evaluation"):
        datamap.run_data_map(empty)


class Toy(nn.Module):
    """Logits from a table, one row per input id: a model whose outputs the test knows."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(logits.clone())

    def forward(self, ids: torch.Tensor, labels: Any = None, row_index: Any = None) -> Any:
        return SimpleNamespace(logits=self.table[ids])


def test_the_recorder_keeps_training_passes_by_row_index(tmp_path: Path) -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]])
    gold = np.array([0, 2, 2, 1])
    recorder = DynamicsRecorder(
        ids=["w", "x", "y", "z"],
        gold=gold,
        labels=["a", "b", "c"],
        path=tmp_path / "d.npz",
        dataset_id=7,
        dataset_revision=3,
    )
    model = Toy(logits)
    recorder.attach(model)
    model.train()
    order = torch.tensor([2, 0])  # a batch of two rows, out of order
    model(order, labels=torch.tensor(gold[[2, 0]]), row_index=order)
    model.eval()  # an evaluation pass: not recorded
    model(torch.tensor([1, 3]), labels=torch.tensor(gold[[1, 3]]), row_index=torch.tensor([1, 3]))
    model.train()
    model(torch.tensor([1]), labels=None, row_index=torch.tensor([1]))  # no labels: not recorded
    assert recorder.snapshot(step=5, epoch=1.0)
    assert not recorder.snapshot(step=6, epoch=1.2)  # nothing trained on since
    model(torch.tensor([3, 1]), labels=torch.tensor(gold[[3, 1]]), row_index=torch.tensor([3, 1]))
    recorder.finish(step=9, epoch=2.0)
    model(order, labels=torch.tensor(gold[[2, 0]]), row_index=order)  # detached: not recorded
    dyn = load_dynamics(tmp_path / "d.npz")
    probs = torch.softmax(logits, dim=-1).numpy()
    expected = np.full((4, 2), np.nan)
    expected[[0, 2], 0] = probs[[0, 2], gold[[0, 2]]]
    expected[[1, 3], 1] = probs[[1, 3], gold[[1, 3]]]
    np.testing.assert_allclose(dyn.gold_prob, expected, rtol=1e-6)
    assert dyn.pred.tolist() == [[0, -1], [-1, 1], [2, -1], [-1, 0]]
    assert dyn.step.tolist() == [5, 9] and dyn.epoch.tolist() == [1.0, 2.0]
    assert (dyn.dataset_id, dyn.dataset_revision, dyn.labels) == (7, 3, ("a", "b", "c"))
    features = with_row_index([{"input_ids": [1]}, {"input_ids": [2]}])
    assert [f["row_index"] for f in features] == [0, 1]


def test_cli_prints_regions_and_every_train_row(small_run, capsys: pytest.CaptureFixture[str]) -> None:
    ws, _, run, _ = small_run
    assert main(["datamap", str(run), "--json", "--home", str(ws.root)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["regions"]) == set(datamap.REGIONS) and sum(out["regions"].values()) == 90
    assert sorted(r["id"] for r in out["rows"]) == sorted(load_dynamics(run).ids.tolist())
    for row in out["rows"]:
        assert {"id", "confidence", "variability", "correctness", "region"} <= set(row)
        assert row["region"] in datamap.REGIONS and 0 <= row["confidence"] <= 1
    hard = [r for r in out["rows"] if r["region"] == "hard_to_learn"]
    others = [r["confidence"] for r in out["rows"] if r["region"] in ("easy_to_learn", "other")]
    assert hard and max(r["confidence"] for r in hard) <= min(others)
    assert main(["datamap", str(run), "--top", "2"]) == 0
    text = capsys.readouterr().out
    assert "regions: hard to learn" in text and f"of the {EPOCHS} recorded" in text


def test_finder_lists_the_hard_to_learn_rows_of_the_newest_run(small_run) -> None:
    ws, dataset_id, run, _ = small_run
    assert [r.run_dir for r in datamap.dataset_runs(ws, dataset_id)] == [str(run)]
    assert datamap.dataset_runs(ws, dataset_id + 1) == []
    source = FinderInput(report=None, root=ws.root, dataset_id=dataset_id)  # type: ignore[arg-type]
    found = datamap_finder.FINDER.run(source)
    hard = datamap.ranked(datamap.run_data_map(run, root=ws).table, "hard_to_learn")
    assert found["id"].tolist() == hard["id"].tolist() and set(found["kind"]) == {"data_map"}
    assert found["score"].is_monotonic_decreasing
    assert datamap_finder.FINDER.run(FinderInput(report=None)).empty  # type: ignore[arg-type]


def test_selected_ids_read_a_plotly_selection() -> None:
    selection = {
        "points": [{"customdata": ["12"], "x": 0.1}, {"customdata": ["7"]}, {"customdata": ["12"]}, {"x": 1}],
        "lasso": [{"x": [0, 1], "y": [0, 1]}],
    }
    assert datamap.selected_ids(selection) == ["12", "7"]
    assert datamap.selected_ids(None) == [] and datamap.selected_ids({"points": []}) == []


def test_confident_learnings_flags_are_marked_and_can_lead() -> None:
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "region": ["hard_to_learn"] * 4,
            "confidence": [0.1, 0.05, 0.2, 0.01],
            "variability": [0.01] * 4,
        }
    )
    marked = datamap.mark_flagged(table, ["c", "x", "a"])
    assert marked["flagged"].tolist() == [True, False, True, False]
    assert datamap.ranked(marked, "hard_to_learn")["id"].tolist() == ["d", "b", "a", "c"]
    assert datamap.ranked(marked, "hard_to_learn", flagged_first=True)["id"].tolist() == ["a", "c", "d", "b"]
    with pytest.raises(ValueError, match="region"):
        datamap.ranked(marked, "hard")


def test_the_figure_carries_ids_marks_and_escaped_sentences() -> None:
    from core.serve.display import data_map_figure

    table = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "run_label": ["no_relation", "per:title", "org:members"],
            "label": ["no_relation", "no_relation", "org:members"],
            "confidence": [0.1, 0.8, np.nan],  # the third row was never trained on: not drawn
            "variability": [0.05, 0.2, np.nan],
            "correctness": [0.0, 1.0, np.nan],
            "changed": [False, True, False],
            "flagged": [True, False, False],
            "sentence": ["<img src=x onerror=alert(1)> 갑", "을과 병", "정"],
            "subj_start": [0, 0, 0],
            "subj_end": [3, 0, 0],
            "obj_start": [29, 2, 0],
            "obj_end": [29, 2, 0],
        }
    )
    trace = data_map_figure(table).data[0]
    assert [c[0] for c in trace.customdata] == ["1", "2"]
    assert list(trace.marker.symbol) == ["circle", "x"] and list(trace.marker.line.width) == [1.5, 0.0]
    assert "<img" not in trace.hovertext[0] and "&lt;img" in trace.hovertext[0]
    assert "trained as per:title" in trace.hovertext[1]


#: The acceptance run: the tiny model's defaults with the epochs of confident learning's acceptance test.
ACCEPTANCE = {"epochs": 6}
BUDGET = 90


@pytest.mark.slow
@pytest.mark.timeout(1800)  # one training: about a minute on an idle 2-core CPU, several on a busy one
def test_demo_label_flips_land_in_the_hard_to_learn_region(tmp_path: Path) -> None:
    """Acceptance: one ordinary tiny-model run on the demo; its 90 lowest-confidence hard-to-learn rows are
    mostly the injected label flips.

    Only the split's train rows are trained on, so only the flips among them (82 of the 90) can be found:
    recall is reported against both. Precision counts a row as found only when it is a label flip.
    Measured on a busy 2-core machine: precision 0.833, recall 0.915 of the run's 82 flips (0.833 of all 90),
    the region (340 rows) holding 81 of them; against any wrong label (flips and conflicting copies) precision
    0.944. Confident learning on the same workspace (5 folds of the same 6 epochs, the crossval acceptance
    test's config; 1,175 s of training against this run's 211 s there): at the same 90-row budget precision
    0.789, recall 0.789 over all 3,000 rows, 0.767 / 0.841 over the run's 2,700 train rows; its own flagged set
    (126 rows) 0.675 / 0.944. 81 of the data map's 90 rows are among confident learning's flags. After 15
    epochs (the default) the tiny model memorises a third of the flips, which then vary (ambiguous) instead of
    staying low: precision 0.556 at 90 rows over all 15 evaluations, 0.700 over the 13 up to the best dev
    micro-F1 (the map's default window), 0.844 over the first 9.
    """
    from core.data.demo_manifest import load_manifest

    ws = Workspace(tmp_path / "ws")
    seed_demo(ws)
    run = ws.root / "runs" / "acceptance"
    summary = train({"workspace": str(ws.root), **ACCEPTANCE}, run)
    assert summary["status"] == "succeeded", summary.get("error")
    found = datamap.run_data_map(run, root=ws)
    manifest = load_manifest(ws.root / "demo-source" / "manifest.json")
    flips = {str(e.id) for e in manifest.label_flips}
    wrong_label = flips | {str(e.id) for e in manifest.label_conflicts}
    trained_flips = flips & set(found.table["id"])
    hard = datamap.ranked(found.table, "hard_to_learn")
    top = set(hard["id"].head(BUDGET))
    precision = len(top & flips) / BUDGET
    recall = len(top & flips) / len(trained_flips)
    print(
        f"\nhard-to-learn region: {found.regions['hard_to_learn']} rows, {len(set(hard['id']) & flips)} of the "
        f"{len(trained_flips)} label flips among the run's train rows ({len(flips)} in all); budget {BUDGET}: "
        f"precision {precision:.3f}, recall {recall:.3f} (of all flips {len(top & flips) / len(flips):.3f}); "
        f"precision against wrong labels (flips + conflicting copies) {len(top & wrong_label) / BUDGET:.3f}; "
        f"{found.evaluations} evaluations, dev micro-F1 {summary['dev']['micro_f1']:.1f}, "
        f"recording {summary['dynamics']['record_s']:.2f} s of {summary['train_wall_s']:.0f} s training"
    )
    assert precision >= 0.6


def test_the_map_covers_the_evaluations_up_to_the_best_dev_score_or_as_asked(small_run, tmp_path: Path) -> None:
    """By default the evaluations up to the run's best dev micro-F1 (read from metrics.jsonl), each row's figures
    then those of the stored array's first columns; "all" and a count are honoured, a count it lacks is refused."""
    ws, _, run, _ = small_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    records = [json.loads(line) for line in RunDir(copy).metrics.read_text().splitlines() if line.strip()]
    evals = [r for r in records if r.get("kind") == "eval"]
    assert len(evals) == EPOCHS
    # Make the second evaluation the best one.
    for i, record in enumerate(evals):
        record["eval_micro_f1"] = 99.0 if i == 1 else 10.0 + i
    RunDir(copy).metrics.write_text("".join(json.dumps(r) + "\n" for r in records))

    found = datamap.run_data_map(copy, root=ws)
    assert (found.evaluations, found.recorded, found.best_evaluation) == (2, EPOCHS, 2)
    with np.load(RunDir(copy).dynamics, allow_pickle=False) as npz:
        ids, prob = npz["ids"], npz["gold_prob"]
    table = found.table.set_index("id")
    for i in (0, len(ids) // 2, len(ids) - 1):
        values = [float(v) for v in prob[i, :2]]
        assert table.loc[ids[i], "confidence"] == pytest.approx(statistics.fmean(values), abs=1e-12)
        assert table.loc[ids[i], "variability"] == pytest.approx(statistics.pstdev(values), abs=1e-12)
    assert datamap.run_data_map(copy, root=ws, through="all").evaluations == EPOCHS
    assert datamap.run_data_map(copy, root=ws, through=3).evaluations == 3
    # Equal best scores: the last of them (the model was no worse until then); the first alone: two evaluations.
    for record in evals:
        record["eval_micro_f1"] = 50.0
    RunDir(copy).metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert datamap.run_data_map(copy, root=ws).evaluations == EPOCHS
    for i, record in enumerate(evals):
        record["eval_micro_f1"] = 90.0 - i
    RunDir(copy).metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert datamap.run_data_map(copy, root=ws).evaluations == 2
    report = datamap.report(found)
    assert (report["evaluations"], report["recorded_evaluations"], report["best_evaluation"]) == (2, EPOCHS, 2)
    with pytest.raises(datamap.DataMapError, match=f"between 1 and {EPOCHS}"):
        datamap.run_data_map(copy, root=ws, through=EPOCHS + 1)
    # Without dev scores (no metrics file) every evaluation counts.
    RunDir(copy).metrics.unlink()
    assert datamap.run_data_map(copy, root=ws).evaluations == EPOCHS
