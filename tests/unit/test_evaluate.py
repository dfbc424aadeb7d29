"""core.evaluate: each analysis against sklearn or a plain recomputation, honesty of the threshold, restriction,
bootstrap, compare, the fast submission reader, and the ``evaluate`` command's JSON and error messages."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics

from core import cli
from core.common.schema import INVERSE_RELATIONS, KLUE_LABELS, NO_RELATION
from core.data.demo import write_demo_dataset
from core.data.loading import load_file
from core.evaluate import calibration, compare, confusion, restriction, scores, slices, threshold
from core.evaluate.report import read_allowed
from core.train import metrics
from core.train.metrics import auprc, micro_f1, read_gold, reference_auprc, write_submission

LABELS = KLUE_LABELS
C = len(LABELS)
NR = LABELS.index(NO_RELATION)
TOL = 1e-9

# --------------------------------------------------------------------------------------------------
# inputs


def model_probs(gold: np.ndarray, *, margin: float, seed: int, classes: int = C) -> np.ndarray:
    """Softmax outputs that favour the gold class by ``margin`` (a plausible model of given strength)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(gold.size, classes))
    logits[np.arange(gold.size), gold] += margin
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The demo dataset (train, test rows, test gold) and two prediction files of different strength."""
    out = tmp_path_factory.mktemp("evaluate-demo")
    write_demo_dataset(out, seed=5, n_train=1000, n_test=400)
    ids, gold = read_gold(out / "test_gold.csv")
    weak, strong = model_probs(gold, margin=1.5, seed=1), model_probs(gold, margin=3.0, seed=2)
    write_submission(out / "weak.csv", ids, weak, label_names=LABELS)
    write_submission(out / "strong.csv", ids, strong, label_names=LABELS)
    test = load_file(out / "test.csv").frame.set_index("id").loc[ids]
    return {"dir": out, "ids": ids, "gold": gold, "weak": weak, "strong": strong, "test": test}


# --------------------------------------------------------------------------------------------------
# confusion and per-class figures against sklearn


@pytest.mark.parametrize("order", confusion.ORDERS)
def test_confusion_matrix_equals_sklearn(demo: dict, order: str) -> None:
    gold, pred = demo["gold"], demo["weak"].argmax(axis=1)
    result = confusion.confusion_matrix(gold, pred, label_names=LABELS, order=order)
    expected = sklearn.metrics.confusion_matrix(gold, pred, labels=list(result.classes))
    assert np.array_equal(result.matrix, expected)
    assert result.labels == tuple(LABELS[c] for c in result.classes)
    assert sorted(result.classes) == list(range(C))
    assert result.labels[-1] == NO_RELATION  # set apart, whatever the order
    support = result.matrix.sum(axis=1)
    assert np.allclose(result.normalized.sum(axis=1), (support > 0).astype(float))
    if order == "frequency":
        relations = support[:-1]
        assert list(relations) == sorted(relations, reverse=True)
    g, p = result.labels[0], result.labels[1]
    rows = result.rows(g, p)
    assert rows.tolist() == [i for i in range(gold.size) if LABELS[gold[i]] == g and LABELS[pred[i]] == p]
    assert rows.size == result.matrix[0, 1]
    payload = result.to_dict()
    assert payload["labels"] == list(result.labels)
    assert payload["matrix"] == expected.tolist()


def test_confusion_order_puts_confused_labels_side_by_side() -> None:
    # classes 0..4; 1 and 3 are confused a lot, 2 and 4 a little, 0 is never confused
    gold = np.array([1] * 10 + [3] * 10 + [2] * 5 + [4] * 5 + [0] * 5)
    pred = np.array([3] * 6 + [1] * 4 + [1] * 5 + [3] * 5 + [4] * 2 + [2] * 3 + [2] * 1 + [4] * 4 + [0] * 5)
    order = confusion.confusion_order(confusion.confusion_counts(gold, pred, n_classes=5))
    assert order[:2] in ([1, 3], [3, 1])
    assert order[2:4] in ([2, 4], [4, 2])
    assert order[-1] == 0


def test_per_class_equals_sklearn(demo: dict) -> None:
    gold, pred = demo["gold"], demo["weak"].argmax(axis=1)
    precision, recall, f1, support = sklearn.metrics.precision_recall_fscore_support(
        gold, pred, labels=list(range(C)), average=None, zero_division=0
    )
    rows = slices.per_class(gold, pred, label_names=LABELS)
    assert [r.label for r in rows] == list(LABELS)
    assert np.allclose([r.precision for r in rows], precision * 100, atol=TOL)
    assert np.allclose([r.recall for r in rows], recall * 100, atol=TOL)
    assert np.allclose([r.f1 for r in rows], f1 * 100, atol=TOL)
    assert [r.support for r in rows] == support.tolist()
    assert [r.predicted for r in rows] == np.bincount(pred, minlength=C).tolist()


def test_slice_scores_are_micro_f1_within_each_group(demo: dict) -> None:
    gold, pred = demo["gold"], demo["weak"].argmax(axis=1)
    keys = (demo["test"]["subj_type"] + "-" + demo["test"]["obj_type"]).to_numpy(dtype=object)
    result = slices.slice_scores(gold, pred, keys, no_relation=NR)
    assert sum(s.rows for s in result) == gold.size
    assert [s.rows for s in result] == sorted((s.rows for s in result), reverse=True)
    for s in result:
        inside = keys == s.key
        assert s.micro_f1 == pytest.approx(micro_f1(gold[inside], pred[inside], no_relation=NR), abs=TOL)
        assert s.accuracy == pytest.approx(np.mean(gold[inside] == pred[inside]) * 100, abs=TOL)
        assert s.relations == np.count_nonzero(gold[inside] != NR)


def test_length_buckets() -> None:
    got = slices.length_buckets([1, 49, 50, 99, 100, 199, 200, 999]).tolist()
    assert got == ["<50", "<50", "50-99", "50-99", "100-149", "150-199", ">=200", ">=200"]
    with pytest.raises(ValueError, match="increasing"):
        slices.length_buckets([10], edges=(100, 50))


def test_direction_errors_count_inverse_predictions_only() -> None:
    cases = [
        ("per:parents", "per:children", True),
        ("per:children", "per:parents", True),
        ("org:members", "org:member_of", True),
        ("org:member_of", "org:members", True),
        ("per:spouse", "per:spouse", False),  # symmetric: its own inverse, i.e. correct
        ("per:parents", "per:siblings", False),  # wrong, but not the inverse
        ("per:parents", "per:parents", False),
        ("no_relation", "per:children", False),
    ]
    gold = np.array([LABELS.index(g) for g, _, _ in cases])
    pred = np.array([LABELS.index(p) for _, p, _ in cases])
    result = slices.direction_errors(gold, pred, label_names=LABELS)
    assert result.rows.tolist() == [i for i, (_, _, hit) in enumerate(cases) if hit]
    assert result.count == 4
    assert sorted(result.pairs) == sorted((g, p, 1) for g, p, hit in cases if hit)
    # the map is the one the entity-swap augmentation uses, not a copy
    assert all(INVERSE_RELATIONS[g] == p for g, p, _ in result.pairs)
    ids = [f"r{i}" for i in range(len(cases))]
    assert result.to_dict(ids)["rows"] == ["r0", "r1", "r2", "r3"]


# --------------------------------------------------------------------------------------------------
# entity-type restriction


def test_restriction_keeps_every_prediction_inside_its_pairs_allowed_set(demo: dict) -> None:
    allowed, used, _ = read_allowed(demo["dir"] / "train.csv")
    assert used > 0
    test = demo["test"]
    subj = test["subj_type"].to_numpy(dtype=object).copy()
    obj = test["obj_type"].to_numpy(dtype=object).copy()
    subj[:3], obj[:3] = "PER", "NEVER_SEEN"  # unseen pairs: left alone
    probs = demo["weak"]
    result = restriction.restrict(probs, subj, obj, allowed)
    after = result.probs.argmax(axis=1)
    assert np.allclose(result.probs.sum(axis=1), 1.0)
    for i in range(probs.shape[0]):
        allowed_here = allowed.allowed(subj[i], obj[i])
        if allowed_here is None:
            assert result.unseen[i]
            assert np.array_equal(result.probs[i], probs[i])
            continue
        assert NO_RELATION in allowed_here
        assert LABELS[after[i]] in allowed_here
        forbidden = [c for c in range(C) if LABELS[c] not in allowed_here]
        assert np.all(result.probs[i, forbidden] == 0)
        assert result.removed[i] == pytest.approx(probs[i, forbidden].sum(), abs=1e-12)
    assert result.unseen[:3].all()
    changed = np.flatnonzero(after != probs.argmax(axis=1))
    assert [s.row for s in result.suppressed] == changed.tolist()
    assert result.changed > 0
    for item in result.suppressed:
        assert item.before not in allowed.allowed(*item.pair)
        assert item.after == LABELS[after[item.row]]


def test_restriction_of_a_row_with_only_forbidden_mass_is_no_relation() -> None:
    names = ("no_relation", "per:title", "org:members")
    allowed = restriction.allowed_relations(
        ["PER", "ORG"], ["POH", "ORG"], ["per:title", "org:members"], label_names=names
    )
    assert allowed.allowed("PER", "POH") == ("no_relation", "per:title")
    probs = np.array([[0.0, 0.0, 1.0], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    result = restriction.restrict(probs, ["PER", "PER", "LOC"], ["POH", "POH", "LOC"], allowed)
    assert result.probs.tolist()[0] == [1.0, 0.0, 0.0]
    assert np.allclose(result.probs[1], [0.4, 0.6, 0.0])
    assert np.array_equal(result.probs[2], probs[2])  # LOC-LOC never seen in training
    assert [(s.row, s.before, s.after, round(s.removed, 9)) for s in result.suppressed] == [
        (0, "org:members", "no_relation", 1.0),
        (1, "org:members", "per:title", 0.5),
    ]


def test_restriction_effect_is_a_paired_difference(demo: dict) -> None:
    allowed, _, _ = read_allowed(demo["dir"] / "train.csv")
    gold, probs, test = demo["gold"], demo["weak"], demo["test"]
    effect = restriction.restriction_effect(gold, probs, test["subj_type"], test["obj_type"], allowed, resamples=200)
    assert effect.micro_f1.before == pytest.approx(micro_f1(gold, probs.argmax(1)), abs=TOL)
    assert effect.micro_f1.after == pytest.approx(micro_f1(gold, effect.restriction.probs.argmax(1)), abs=TOL)
    assert effect.auprc.after == pytest.approx(auprc(gold, effect.restriction.probs), abs=TOL)
    assert effect.micro_f1.ci.contains(effect.micro_f1.delta)
    head = scores.headline(gold, probs, resamples=200)
    reused = restriction.restriction_effect(
        gold, probs, test["subj_type"], test["obj_type"], allowed, resamples=200, before=head
    )
    assert reused.to_dict() == effect.to_dict()
    payload = effect.to_dict(demo["ids"])
    assert {"changed", "micro_f1", "auprc", "micro_f1_delta_ci", "auprc_delta_ci", "suppressed"} <= set(payload)
    assert {"id", "pair", "before", "after", "removed"} == set(payload["suppressed"][0])


# --------------------------------------------------------------------------------------------------
# no_relation threshold


@pytest.mark.parametrize("mode", threshold.MODES)
def test_threshold_is_chosen_on_the_selection_half_only(demo: dict, mode: str) -> None:
    gold, probs = demo["gold"], demo["weak"]
    n = gold.size
    for seed in (0, 3):
        held = np.sort(np.random.default_rng(seed).permutation(n)[n // 2 :])
        corrupted = gold.copy()
        corrupted[held] = (corrupted[held] + 7) % C  # every held-out gold label wrong
        clean = threshold.threshold_study(gold, probs, mode=mode, seeds=[seed]).splits[0]
        dirty = threshold.threshold_study(corrupted, probs, mode=mode, seeds=[seed]).splits[0]
        assert dirty.threshold == clean.threshold
        assert dirty.selection_tuned == clean.selection_tuned
        assert dirty.heldout_tuned != clean.heldout_tuned  # the held-out half is scored, just not used to choose


@pytest.mark.parametrize("mode", threshold.MODES)
def test_chosen_threshold_is_the_best_over_every_threshold(demo: dict, mode: str) -> None:
    gold, probs = demo["gold"], np.round(demo["strong"], 2)  # rounded: ties between rows
    t, best = threshold.choose_threshold(gold, probs, mode=mode, no_relation=NR)
    assert micro_f1(gold, threshold.apply_threshold(probs, threshold=t, mode=mode)) == pytest.approx(best, abs=TOL)
    _, score = threshold.relation_scores(probs, mode=mode)
    candidates = np.append(np.unique(score), np.inf)
    brute = max(micro_f1(gold, threshold.apply_threshold(probs, threshold=c, mode=mode)) for c in candidates)
    assert best == pytest.approx(brute, abs=TOL)
    grid, curve = threshold.threshold_curve(gold, probs, mode=mode)
    for c, f in list(zip(grid, curve, strict=True))[::10]:
        assert f == pytest.approx(micro_f1(gold, threshold.apply_threshold(probs, threshold=c, mode=mode)), abs=TOL)


def test_threshold_study_reports_the_held_out_gain(demo: dict) -> None:
    study = threshold.threshold_study(demo["gold"], demo["weak"], mode="margin", seeds=(0, 1, 2))
    payload = study.to_dict()
    gains = [s["heldout_gain"] for s in payload["splits"]]
    assert payload["heldout_gain_mean"] == pytest.approx(np.mean(gains))
    assert payload["heldout_gain_std"] == pytest.approx(np.std(gains, ddof=1))
    assert payload["baseline_micro_f1"] == pytest.approx(micro_f1(demo["gold"], demo["weak"].argmax(1)))
    assert len(payload["curve"]["thresholds"]) == len(payload["curve"]["micro_f1"]) == threshold.CURVE_POINTS
    # margin 0 is the argmax (no exact ties in these probabilities)
    pred0 = threshold.apply_threshold(demo["weak"], threshold=0.0, mode="margin")
    assert np.array_equal(pred0, demo["weak"].argmax(1))


# --------------------------------------------------------------------------------------------------
# bootstrap


def test_weighted_auprc_equals_the_sklearn_recipe_on_repeated_rows() -> None:
    rng = np.random.default_rng(3)
    gold = np.where(rng.random(300) < 0.4, 0, rng.integers(0, 8, 300))
    gold[gold == 5] = 6  # class 5 has no positive: 0.5 whatever the weights
    for probs in (
        model_probs(gold, margin=1.0, seed=4, classes=8),
        np.round(model_probs(gold, margin=1.0, seed=5, classes=8), 1),
    ):
        ones = np.ones((gold.size, 1), dtype=np.int16)
        assert scores.weighted_auprc(gold, probs, ones)[0] == pytest.approx(auprc(gold, probs), abs=TOL)
        weights = rng.integers(0, 4, size=(gold.size, 5))
        got = scores.weighted_auprc(gold, probs, weights)
        for b in range(weights.shape[1]):
            rep = np.repeat(np.arange(gold.size), weights[:, b])
            assert got[b] == pytest.approx(reference_auprc(gold[rep], probs[rep]), abs=TOL)


def test_resampled_scores_equal_scoring_each_resample(demo: dict) -> None:
    gold, probs = demo["gold"], demo["weak"]
    pred = probs.argmax(1)
    counts = scores.bootstrap_counts(gold.size, resamples=30, seed=9)
    assert (counts.sum(axis=0) == gold.size).all()
    f1 = scores.micro_f1_resampled(gold, pred, counts)
    acc = scores.accuracy_resampled(gold, pred, counts)
    area = scores.auprc_resampled(gold, probs, counts)
    for b in range(0, 30, 7):
        rep = np.repeat(np.arange(gold.size), counts[:, b])
        assert f1[b] == pytest.approx(micro_f1(gold[rep], pred[rep]), abs=TOL)
        assert acc[b] == pytest.approx(np.mean(gold[rep] == pred[rep]) * 100, abs=TOL)
        assert area[b] == pytest.approx(auprc(gold[rep], probs[rep]), abs=TOL)


def test_bootstrap_intervals_contain_the_estimate_and_follow_the_seed(demo: dict) -> None:
    gold, probs = demo["gold"], demo["weak"]
    first = scores.headline(gold, probs, resamples=300, seed=4)
    again = scores.headline(gold, probs, resamples=300, seed=4)
    other = scores.headline(gold, probs, resamples=300, seed=5)
    assert first == again
    assert first.micro_f1_ci != other.micro_f1_ci
    assert first.micro_f1 == pytest.approx(micro_f1(gold, probs.argmax(1)), abs=0)
    assert first.auprc == pytest.approx(auprc(gold, probs), abs=0)
    for name in ("micro_f1", "auprc", "accuracy"):
        ci = getattr(first, f"{name}_ci")
        assert ci.contains(getattr(first, name))
        assert ci.high - ci.low > 0
    payload = first.to_dict()
    assert payload["micro_f1_ci"] == [first.micro_f1_ci.low, first.micro_f1_ci.high]
    assert payload["bootstrap"] == {"resamples": 300, "seed": 4, "level": 0.95}


def test_paired_difference_p_value() -> None:
    same = scores.paired_difference(50.0, 50.0, np.full(99, 50.0), np.full(99, 50.0))
    assert (same.delta, same.ci.low, same.ci.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    rng = np.random.default_rng(0)
    before = rng.normal(50, 1, 999)
    clear = scores.paired_difference(50.0, 55.0, before, before + rng.normal(5, 0.5, 999))
    assert clear.p_value == pytest.approx(1 / 1000)
    assert clear.ci.low > 0


# --------------------------------------------------------------------------------------------------
# compare


def test_a_model_compared_with_itself_differs_by_nothing(demo: dict) -> None:
    result = compare.compare_runs(
        demo["gold"], demo["weak"], demo["weak"], names=("w", "w2"), label_names=LABELS, resamples=200
    )
    assert result.micro_f1.delta == 0.0
    assert (result.micro_f1.ci.low, result.micro_f1.ci.high) == (0.0, 0.0)
    assert result.micro_f1.p_value == 1.0
    assert result.disagreements.size == 0
    assert all(a == b for _, a, b in result.per_class)
    assert result.verdict.startswith("no clear difference")


def test_compare_finds_the_better_model_and_the_disagreements(demo: dict) -> None:
    gold, weak, strong = demo["gold"], demo["weak"], demo["strong"]
    result = compare.compare_runs(gold, weak, strong, names=("weak", "strong"), label_names=LABELS, resamples=300)
    delta = micro_f1(gold, strong.argmax(1)) - micro_f1(gold, weak.argmax(1))
    assert result.micro_f1.delta == pytest.approx(delta, abs=TOL)
    assert result.verdict.startswith(f"strong is better: micro-F1 +{delta:.2f} (95% CI ")
    reverse = compare.compare_runs(gold, strong, weak, names=("strong", "weak"), label_names=LABELS, resamples=300)
    assert reverse.verdict.startswith(f"strong is better: micro-F1 +{delta:.2f}")
    assert result.disagreements.tolist() == np.flatnonzero(weak.argmax(1) != strong.argmax(1)).tolist()
    payload = result.to_dict(ids=demo["ids"], gold=gold, label_names=LABELS)
    first = payload["disagreements"]["rows"][0]
    assert set(first) == {"id", "gold", "a", "b"} and first["a"] != first["b"]
    deltas = [abs(d["delta"]) for d in payload["per_class_f1_delta"]]
    assert deltas == sorted(deltas, reverse=True)


# --------------------------------------------------------------------------------------------------
# calibration


def test_reliability_bins_and_ece() -> None:
    probs = np.array([[0.95, 0.05], [0.9, 0.1], [0.3, 0.7], [0.45, 0.55]])
    gold = np.array([0, 1, 1, 0])
    result = calibration.reliability(gold, probs, bins=10)
    filled = {round(b.lower, 1): (b.count, b.confidence, b.accuracy) for b in result.bins if b.count}
    assert filled == {0.9: (2, pytest.approx(0.925), 0.5), 0.7: (1, 0.7, 1.0), 0.5: (1, 0.55, 0.0)}
    expected = 2 / 4 * abs(0.5 - 0.925) + 1 / 4 * abs(1.0 - 0.7) + 1 / 4 * abs(0.0 - 0.55)
    assert result.ece == pytest.approx(expected)


def test_temperature_scaling_recovers_an_overconfident_models_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(6000, 5))
    honest = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    gold = np.array([rng.choice(5, p=row) for row in honest])  # labels drawn from the honest probabilities
    overconfident = calibration.apply_temperature(honest, 1 / 3)  # softmax(3 * logits)
    assert calibration.fit_temperature(gold, overconfident) == pytest.approx(3.0, rel=0.1)
    study = calibration.temperature_study(gold, overconfident, seed=1)
    assert study.ece_after < study.ece_before / 2
    assert study.nll_after < study.nll_before
    assert np.array_equal(overconfident.argmax(1), calibration.apply_temperature(overconfident, 2.0).argmax(1))


# --------------------------------------------------------------------------------------------------
# the fast submission reader


ODD_CELLS = [
    "[0.5, 0.5]",
    "[0.5,0.5]",
    "[.5, 0.5]",
    "[0.5 , 0.5]",
    "[0.5,  0.5]",
    " [0.5, 0.5] ",
    "[e5, 1.0]",
    "[1.0,]",
    "[,1.0]",
    "[1, 0]",
    "[1e0, 0e0]",
    "[1., 0.]",
    "[5e-1, 0.5]",
    "[-0.0, 1]",
    "[+0.5, 0.5]",
    "[1_0, 0]",
    "[nan, 1]",
    "[inf, 0]",
    "[0x1, 0]",
    "[1, 0]]",
    "[[1, 0]",
    "[(1), 0]",
    "[١, 0]",
    "[0.2 0.8]",
    "[np.float64(0.5), np.float64(0.5)]",
    "[0.4, 0.5]",
    "[0.5, 0.5, 0.0]",
    "[]",
    "",
]


def test_fast_probs_never_disagrees_with_the_per_cell_parser() -> None:
    for cell in ODD_CELLS:
        probs, settled = metrics._fast_probs(pd.Series([cell, "[0.25, 0.75]"], dtype="str"), 2)
        values, reason = metrics._parse_probs(cell, 2)
        if settled[0]:
            assert reason is None and probs[0].tolist() == values, cell
    probs, settled = metrics._fast_probs(pd.Series(["[0.25, 0.75]"] * 3, dtype="str"), 2)
    assert settled.all() and probs.tolist() == [[0.25, 0.75]] * 3


def test_reading_a_submission_gives_the_per_cell_parsers_values_and_messages(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    probs = model_probs(rng.integers(0, C, 500), margin=1.0, seed=3)
    probs[::7] = np.round(probs[::7], 3)
    probs[::11] = np.float32(probs[::11])
    ids = [str(i) for i in range(500)]
    path = tmp_path / "sub.csv"
    write_submission(path, ids, probs, label_names=LABELS)
    got_ids, got = metrics.read_submission(path, label_names=LABELS)
    assert got_ids == ids and np.array_equal(got, probs)  # bitwise: the same correctly rounded parse

    names = ("no_relation", "a")
    rows = [[str(i), "a", cell] for i, cell in enumerate(ODD_CELLS)]
    odd = tmp_path / "odd.csv"
    with open(odd, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "pred_label", "probs"], *rows])
    expected = [metrics._parse_probs(cell, 2) for cell in ODD_CELLS]
    bad = [i + 1 for i, (_, reason) in enumerate(expected) if reason is not None]
    with pytest.raises(metrics.DataError) as info:
        metrics.read_submission(odd, label_names=names)
    first = expected[bad[0] - 1][1]
    assert str(info.value) == f"{odd}: row {bad[0]}, field probs: {first} (and {len(bad) - 1} more problems)."
    good = tmp_path / "good.csv"
    kept = [r for r, (_, reason) in zip(rows, expected, strict=True) if reason is None]
    with open(good, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "pred_label", "probs"], *kept])
    _, values = metrics.read_submission(good, label_names=names)
    assert values.tolist() == [v for v, reason in expected if reason is None]


# --------------------------------------------------------------------------------------------------
# the command


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_json_holds_every_analysis(demo: dict, capsys: pytest.CaptureFixture[str]) -> None:
    d = demo["dir"]
    argv = ["evaluate", "--gold", str(d / "test_gold.csv"), str(d / "weak.csv"), "--rows", str(d / "test.csv")]
    code, out, err = run_cli([*argv, "--train", str(d / "train.csv"), "--resamples", "200", "--json"], capsys)
    assert (code, err) == (0, "")
    report = json.loads(out)
    gold, probs = demo["gold"], demo["weak"]
    assert report["micro_f1"] == pytest.approx(micro_f1(gold, probs.argmax(1)), abs=1e-6)
    assert report["auprc"] == pytest.approx(auprc(gold, probs), abs=1e-6)
    assert report["confusion"]["labels"][-1] == NO_RELATION
    assert len(report["confusion"]["matrix"]) == C and sum(map(sum, report["confusion"]["matrix"])) == gold.size
    assert set(report["per_class"][0]) >= {"label", "precision", "recall", "f1", "support"}
    assert {"changed", "micro_f1", "auprc"} <= set(report["restriction"])
    assert set(report["slices"]) == {"type_pair", "source", "sentence_length"}
    assert set(report["threshold"]) == set(threshold.MODES)
    assert {"ece", "bins", "temperature"} <= set(report["calibration"])
    assert report["pred_label_mismatches"] == 0

    code, out, err = run_cli(
        [*argv[:3], str(d / "weak.csv"), str(d / "strong.csv"), "--resamples", "200", "--json"], capsys
    )
    assert code == 0
    both = json.loads(out)
    assert [r["name"] for r in both["runs"]] == ["weak", "strong"]
    assert "slices" not in both["runs"][0] and "restriction" not in both["runs"][0]
    (pair,) = both["compare"]
    assert (pair["a"], pair["b"]) == ("weak", "strong") and pair["verdict"].startswith("strong is better")

    code, out, err = run_cli([*argv[:3], str(d / "weak.csv"), "--resamples", "50"], capsys)
    assert code == 0 and "micro-F1 (no_relation excluded)" in out


def bad_inputs(demo: dict, tmp: Path) -> list[tuple[str, Path, Path]]:
    d, ids = demo["dir"], demo["ids"]
    gold_bad = tmp / "gold_bad.csv"
    gold_bad.write_text("id,label\n" + "".join(f"{i},{'per:nothing' if i == ids[2] else 'no_relation'}\n" for i in ids))
    lines = (d / "weak.csv").read_text(encoding="utf-8").splitlines()
    cell = tmp / "cell.csv"
    cell.write_text("\n".join([*lines[:4], lines[4].replace("[", "[nan, ", 1), *lines[5:]]) + "\n")
    dup = tmp / "dup.csv"
    dup.write_text("\n".join([*lines[:3], lines[1], *lines[4:]]) + "\n")
    short = tmp / "short.csv"
    short.write_text("\n".join(lines[:-5]) + "\n")
    return [
        ("bad gold label", gold_bad, d / "weak.csv"),
        ("bad probs cell", d / "test_gold.csv", cell),
        ("duplicate id", d / "test_gold.csv", dup),
        ("missing ids", d / "test_gold.csv", short),
    ]


def test_bad_files_get_the_messages_of_score(demo: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for what, gold, pred in bad_inputs(demo, tmp_path):
        score = run_cli(["score", str(pred), "--gold", str(gold)], capsys)
        evaluate = run_cli(["evaluate", str(pred), "--gold", str(gold)], capsys)
        assert score[0] == evaluate[0] == 2, what
        assert evaluate[1] == ""
        assert evaluate[2] == score[2], what
        assert evaluate[2].startswith("error: ") and evaluate[2].count("\n") == 1, what
    assert (
        "row 3, field label"
        in run_cli(["evaluate", str(demo["dir"] / "weak.csv"), "--gold", str(tmp_path / "gold_bad.csv")], capsys)[2]
    )
    assert (
        "row 4, field probs: probs has 31 values; expected 30"
        in run_cli(["evaluate", str(tmp_path / "cell.csv"), "--gold", str(demo["dir"] / "test_gold.csv")], capsys)[2]
    )


def test_rows_and_train_refusals(demo: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = demo["dir"]
    base = ["evaluate", str(d / "weak.csv"), "--gold", str(d / "test_gold.csv")]
    code, _, err = run_cli([*base, "--train", str(d / "train.csv")], capsys)
    assert code == 2 and "--train needs --rows" in err
    text = (d / "test.csv").read_text(encoding="utf-8").splitlines()
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(text[:11]) + "\n")  # the first 10 rows only
    code, _, err = run_cli([*base, "--rows", str(partial)], capsys)
    assert code == 2 and f"lacks {len(text) - 11} of the {len(text) - 1} predicted ids" in err
    assert "--rows must be the data file of the predicted rows" in err and err.count("\n") == 1
    broken = tmp_path / "rows.csv"
    broken.write_text("\n".join([text[0], text[1].replace("'type': 'PER'", "'type': 'XYZ'", 1), *text[2:]]) + "\n")
    code, _, err = run_cli([*base, "--rows", str(broken)], capsys)
    assert code == 2 and f"{broken}: row 1, field subject_entity" in err
