"""core.analysis.ensemble: every subset equals the sklearn recipe, greedy selection, honesty, refusals, export, CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from core import cli
from core.analysis import ensemble, ensemble_diagnostics, ensemble_export, ensemble_members
from core.common.schema import KLUE_SCHEMA, DataError
from core.store.workspace import Workspace
from core.train.metrics import read_submission, reference_auprc, reference_micro_f1, write_submission
from tests.helpers.runs import RUN_VARIANTS, make_demo_runs

LABELS = KLUE_SCHEMA.labels
C = len(LABELS)

# --------------------------------------------------------------------------------------------------
# helpers


def random_members(m: int, n: int, *, c: int = 6, seed: int = 0, rounded: bool = False) -> ensemble_members.MemberSet:
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(n) < 0.4, 0, rng.integers(0, c, n))
    logits = rng.normal(size=(m, n, c))
    logits[:, np.arange(n), labels] += rng.uniform(0.0, 2.0, size=(m, 1))
    probs = np.exp(logits)
    probs /= probs.sum(axis=-1, keepdims=True)
    if rounded:  # few distinct values: ties in scores and in votes
        probs = np.round(probs, 1)
    names = tuple(f"m{i}" for i in range(m))
    return ensemble_members.MemberSet(
        names=names,
        ids=tuple(f"r{i}" for i in range(n)),
        labels=labels.astype(np.int64),
        probs=probs,
        label_names=tuple(LABELS[:c]),
        sources=names,
        test_paths=(None,) * m,
    )


def plain_hard_vote(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hard voting written out row by row (the definition in core.analysis.ensemble's docstring)."""
    k, n, c = probs.shape
    total = np.sum(probs, axis=0)
    mean = np.mean(probs, axis=0)
    preds = np.empty(n, dtype=np.int64)
    votes = np.zeros((n, c))
    for r in range(n):
        for member in range(k):
            votes[r, int(np.argmax(probs[member, r]))] += 1
        top = votes[r].max()
        tied = [cls for cls in range(c) if votes[r, cls] == top]
        preds[r] = max(tied, key=lambda cls: (total[r, cls], -cls))
    return preds, (votes + mean) / (k + 1)


def write_member(path: Path, ids, probs, *, label_names=LABELS) -> Path:
    write_submission(path, ids, probs, label_names=label_names)
    return path


@pytest.fixture
def files(tmp_path):
    """Three prediction files and a gold file on 40 ids with the KLUE labels."""
    members = random_members(3, 40, c=C, seed=5)
    ids = [f"id{i}" for i in range(40)]
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\n" + "".join(f"{i},{LABELS[g]}\n" for i, g in zip(ids, members.labels, strict=True)))
    paths = [write_member(tmp_path / f"p{j}.csv", ids, members.probs[j]) for j in range(3)]
    return {"gold": gold, "preds": paths, "ids": ids, "members": members}


# --------------------------------------------------------------------------------------------------
# exactness


@pytest.mark.parametrize(("m", "n", "seed", "rounded"), [(4, 60, 0, False), (5, 37, 1, True), (3, 9, 2, True)])
def test_every_subset_equals_the_sklearn_recipe(m, n, seed, rounded):
    members = random_members(m, n, seed=seed, rounded=rounded)
    table = ensemble.score_subsets(members)
    assert len(table) == 2 * (2**m - 1)
    seen = set()
    for row in table.itertuples():
        subset = list(row.subset)
        seen.add((row.subset, row.method))
        if row.method == "soft":
            scores = np.mean(members.probs[subset], axis=0)
            preds = scores.argmax(axis=1)
        else:
            preds, scores = plain_hard_vote(members.probs[subset])
        assert row.micro_f1 == pytest.approx(reference_micro_f1(members.labels, preds), abs=1e-9)
        assert row.auprc == pytest.approx(reference_auprc(members.labels, scores), abs=1e-9)
    expected = {
        (s, meth) for k in range(1, m + 1) for s in itertools.combinations(range(m), k) for meth in ("soft", "hard")
    }
    assert seen == expected


def test_combine_is_bitwise_numpy_mean_and_hard_vote_breaks_ties_by_summed_probability():
    members = random_members(5, 50, seed=3, rounded=True)
    for subset in ([0], [1, 3], [0, 2, 4], [0, 1, 2, 3, 4]):
        weights = np.zeros((1, 5))
        weights[0, subset] = 1
        assert np.array_equal(ensemble.combine_many(members.probs, weights)[0], np.mean(members.probs[subset], axis=0))
    # two members disagree: one vote each; the class with more summed probability wins
    a = np.array([[[0.1, 0.6, 0.3]], [[0.1, 0.2, 0.7]]])
    preds, scores = ensemble.hard_vote(a)
    assert preds.tolist() == [2]  # classes 1 and 2 tie on votes; 0.3 + 0.7 > 0.6 + 0.2
    assert scores.sum() == pytest.approx(1.0) and scores.argmax() == 2
    # three members: the majority wins even against more summed probability
    b = np.array([[[0.0, 0.51, 0.49]], [[0.0, 0.51, 0.49]], [[0.0, 0.01, 0.99]]])
    assert ensemble.hard_vote(b)[0].tolist() == [1]


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(7)
    f1 = np.round(rng.random(200) * 10) / 10
    area = np.round(rng.random(200) * 10) / 10
    front = ensemble.pareto_front(f1, area)
    for i in range(200):
        dominated = np.any((f1 >= f1[i]) & (area >= area[i]) & ((f1 > f1[i]) | (area > area[i])))
        assert front[i] == (not dominated)


# --------------------------------------------------------------------------------------------------
# greedy and honesty


@pytest.mark.parametrize("metric", ["micro_f1", "auprc"])
@pytest.mark.parametrize("seed", range(6))
def test_greedy_never_worse_than_best_single_on_its_selection_half(metric, seed):
    members = random_members(6, 120, seed=seed, rounded=seed % 2 == 1)
    half = members.take_rows(np.sort(np.random.default_rng(seed).permutation(120)[:60]))
    result = ensemble.greedy_select(half, metric=metric, steps=10)
    best_single = ensemble_diagnostics.single_scores(half)[metric].max()
    value = result.micro_f1 if metric == "micro_f1" else result.auprc
    assert value >= best_single - 1e-12
    assert result.path[0]["size"] == 1 and len(result.path) == ensemble.GREEDY_INIT + 10
    # the reported point is the best on the path, and re-scoring its recipe gives the same numbers
    assert value == max(p[metric] for p in result.path)
    preds, scores = ensemble.ensemble_probs(half, method="weighted", weights=result.counts)
    assert reference_micro_f1(half.labels, preds) == pytest.approx(result.micro_f1, abs=1e-9)
    assert reference_auprc(half.labels, scores) == pytest.approx(result.auprc, abs=1e-9)


def test_honest_gain_reports_both_halves_and_spread():
    members = random_members(4, 200, seed=11)
    report = ensemble_diagnostics.honest_gain(members, seeds=(0, 1, 2), steps=5)
    assert len(report.splits) == 6
    for rec in report.splits:
        assert rec.selection_gain >= -1e-12  # picked on these rows: never below the best single member
        assert rec.heldout_gain == pytest.approx(rec.heldout_ensemble - rec.heldout_single)
    greedy = report.summary["greedy"]
    gains = [r.heldout_gain for r in report.splits if r.procedure == "greedy"]
    assert greedy.heldout_gain_mean == pytest.approx(np.mean(gains))
    assert greedy.heldout_gain_std == pytest.approx(np.std(gains, ddof=1))
    plain = json.loads(json.dumps(report.to_dict()))
    assert plain["metric"] == "micro_f1" and plain["rows_per_half"] == [100, 100]
    first = report.splits[0]
    assert plain["splits"][0]["members"] == list(first.members) and plain["splits"][0]["seed"] == first.seed
    assert plain["splits"][0]["heldout_gain"] == first.heldout_gain
    assert plain["summary"]["greedy"]["splits"] == 3


def test_leaderboard_is_best_first_with_greedy_rows_and_diversity():
    members = random_members(4, 80, seed=4)
    calls = []
    table = ensemble.leaderboard(members, steps=5, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (15, 15)
    keys = list(zip(table["micro_f1"], table["auprc"], strict=True))
    assert keys == sorted(keys, key=lambda k: (-k[0], -k[1]))
    assert set(table["selected_by"]) == {"all subsets", "greedy micro_f1", "greedy auprc"}
    assert table["pareto"].any()
    div = ensemble_diagnostics.diversity(members)
    preds = members.probs.argmax(axis=2)
    assert div["disagreement"].iloc[0, 1] == pytest.approx(np.mean(preds[0] != preds[1]))
    err = (preds != members.labels).astype(float)
    assert div["error_correlation"].iloc[0, 1] == pytest.approx(np.corrcoef(err[0], err[1])[0, 1])
    per_class = ensemble_diagnostics.per_class_comparison(members, method="soft", weights=[1, 1, 1, 1])
    assert set(per_class.columns) >= {"label", "ensemble", "best_member", "delta"}


# --------------------------------------------------------------------------------------------------
# refusals


def test_files_load_aligned_to_gold_order(files, tmp_path):
    shuffled = write_member(tmp_path / "shuffled.csv", files["ids"][::-1], files["members"].probs[0][::-1])
    members = ensemble_members.members_from_files([files["preds"][0], shuffled], files["gold"])
    assert members.ids == tuple(files["ids"])
    assert np.array_equal(members.probs[0], members.probs[1])


def test_missing_extra_and_short_files_are_refused(files, tmp_path):
    probs, ids = files["members"].probs[0], files["ids"]
    short = write_member(tmp_path / "short.csv", ids[:-3], probs[:-3])
    with pytest.raises(DataError, match=r"short\.csv.*37 rows.*40.*3 id\(s\) of .*gold\.csv have no prediction"):
        ensemble_members.members_from_files([files["preds"][0], short], files["gold"])
    other = write_member(tmp_path / "other.csv", [*ids[:-1], "stranger"], probs)
    with pytest.raises(DataError, match=r"other\.csv.*'stranger'"):
        ensemble_members.members_from_files([other], files["gold"])
    longer = write_member(tmp_path / "long.csv", [*ids, "x1"], np.vstack([probs, probs[:1]]))
    with pytest.raises(DataError, match=r"long\.csv.*41 rows"):
        ensemble_members.members_from_files([longer], files["gold"])


def test_other_label_order_and_bad_rows_are_refused(files, tmp_path):
    probs, ids = files["members"].probs[0], files["ids"]
    reordered = list(reversed(LABELS))
    swapped = write_member(tmp_path / "swapped.csv", ids, probs[:, ::-1], label_names=reordered)
    with pytest.raises(DataError, match=r"swapped\.csv: row \d+, field pred_label.*another label order"):
        ensemble_members.members_from_files([files["preds"][0], swapped], files["gold"])
    wrong_width = tmp_path / "width.csv"
    wrong_width.write_text('id,pred_label,probs\nid0,no_relation,"[0.5, 0.5]"\n')
    with pytest.raises(DataError, match=r"width\.csv: row 1, field probs: probs has 2 values; expected 30"):
        ensemble_members.members_from_files([wrong_width], files["gold"])
    with pytest.raises(DataError, match="at least one"):
        ensemble_members.members_from_files([], files["gold"])
    with pytest.raises(DataError, match=r"does not exist|not found|No such"):
        ensemble_members.members_from_files([tmp_path / "nope.csv"], files["gold"])


def test_too_many_members_for_every_subset_and_bad_weights_are_refused():
    members = random_members(13, 10, seed=1)
    with pytest.raises(DataError, match=r"13 members is too many.*8,191.*greedy"):
        ensemble.score_subsets(members)
    assert ensemble.greedy_select(members, steps=2).counts  # greedy takes any number
    with pytest.raises(ValueError, match="weights must be 13"):
        ensemble.ensemble_probs(members, method="soft", weights=[1, 2])
    with pytest.raises(ValueError, match="0/1 weights"):
        ensemble.ensemble_probs(members, method="hard", weights=[2] + [0] * 12)
    with pytest.raises(ValueError, match="unknown method"):
        ensemble.ensemble_probs(members, method="median", weights=[1] * 13)


# --------------------------------------------------------------------------------------------------
# export and CLI


def test_export_test_combines_test_files_like_dev(files, tmp_path):
    members = files["members"]
    test_ids = [f"t{i}" for i in range(25)]
    rng = np.random.default_rng(0)
    tests = []
    for j in range(3):
        p = rng.random((25, C))
        p /= p.sum(axis=1, keepdims=True)
        order = rng.permutation(25)  # each member's file in its own row order
        tests.append(write_member(tmp_path / f"t{j}.csv", [test_ids[i] for i in order], p[order]))
    loaded = ensemble_members.members_from_files(files["preds"], files["gold"], test_paths=tests)
    out = tmp_path / "submission.csv"
    ensemble_export.export_test(loaded, method="weighted", weights=[2, 0, 1], out=out)
    ids, probs = read_submission(out, label_names=LABELS)
    first_ids, p0 = read_submission(tests[0], label_names=LABELS)
    assert ids == first_ids
    p2 = dict(zip(*read_submission(tests[2], label_names=LABELS), strict=True))
    expected = np.array([(2 * a + b) / 3 for a, b in zip(p0, [p2[i] for i in ids], strict=True)])
    np.testing.assert_allclose(probs, expected, atol=1e-15)
    rec = ensemble_export.recipe(loaded, method="weighted", weights=[2, 0, 1], scores={"micro_f1": 1.0})
    assert [m["name"] for m in rec["members"]] == ["p0", "p2"] and rec["weights"] == [2.0, 1.0]
    json.dumps(rec)
    no_tests = ensemble_members.members_from_files(files["preds"], files["gold"])
    with pytest.raises(DataError, match="No test predictions"):
        ensemble_export.export_test(no_tests, method="soft", weights=[1, 1, 1], out=tmp_path / "x.csv")
    assert members.size == 3


def test_cli_json_is_best_first(files, capsys):
    parser = cli.build_parser()
    args = parser.parse_args(
        ["ensemble", "--gold", str(files["gold"]), *map(str, files["preds"]), "--json", "--steps", "5"]
    )
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 * 7 + 2
    assert set(rows[0]) >= {"members", "method", "weights", "micro_f1", "auprc"}
    assert [r["micro_f1"] for r in rows] == sorted((r["micro_f1"] for r in rows), reverse=True)
    args = parser.parse_args(["ensemble", "--gold", str(files["gold"]), *map(str, files["preds"]), "--method", "soft"])
    assert args.func(args) == 0
    assert "7 ensembles of 3 members" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# real runs


@pytest.fixture(scope="module")
def run_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("ens-runs")
    make_demo_runs(home)
    return home


@pytest.mark.slow
def test_members_from_three_trained_runs(run_home, tmp_path):
    runs = ensemble_members.finished_runs(run_home, "demo (synthetic KLUE-RE)")
    assert [r.name for r in runs] == [name for name, _ in RUN_VARIANTS]
    members = ensemble_members.members_from_runs(run_home, runs, dataset="demo (synthetic KLUE-RE)")
    assert members.size == 3 and members.label_names == KLUE_SCHEMA.labels
    # gold = the dataset's labels of the dev ids: a single member scores what its run reported
    singles = ensemble_diagnostics.single_scores(members)
    for run, f1 in zip(runs, singles["micro_f1"], strict=True):
        assert f1 == pytest.approx(run.summary["dev"]["micro_f1"], abs=1e-9)
    table = ensemble.leaderboard(members, steps=5)
    best = table.iloc[0]
    out = tmp_path / "sub.csv"
    ids, _ = ensemble_export.export_test(members, method=best["method"], weights=list(best["weights"]), out=out)
    test_ids = Workspace(run_home).current_frame(runs[0].summary["dataset_id"], "test")["id"].astype(str)
    assert sorted(ids) == sorted(test_ids)
    # a run on another split (other dev ids) is refused
    other = runs[2]
    ids2, probs2 = read_submission(other.dev_path, label_names=LABELS)
    write_member(tmp_path / "dev.csv", ids2[:-1], probs2[:-1])
    moved = ensemble_members.RunMember(99, "other split", other.run_dir, str(tmp_path / "dev.csv"), None, other.summary)
    with pytest.raises(DataError, match=r"other split.*does not predict the same rows as run #"):
        ensemble_members.members_from_runs(run_home, [runs[0], moved], dataset="demo (synthetic KLUE-RE)")
