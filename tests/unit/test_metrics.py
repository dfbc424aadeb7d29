"""core.train.metrics: the fast paths equal the sklearn recipe; submission files round-trip and fail clearly."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest
import sklearn.metrics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.train.metrics as metrics
from core.common.schema import KLUE_LABELS, KLUE_SCHEMA, DataError
from core.train.metrics import (
    auprc,
    auprc_many,
    micro_f1,
    micro_f1_many,
    per_class_f1,
    read_gold,
    read_submission,
    reference_auprc,
    reference_micro_f1,
    score,
    score_files,
    write_submission,
)

TOL = 1e-9  # on the x100 scale, as the facts ask

#: Values that make ties: a coarse grid, both zeros, and a subnormal next to zero.
TIE_VALUES = [0.0, -0.0, 5e-324, 0.25, 0.5, 0.5, 0.75, 1.0]


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def klue_like(rng: np.random.Generator, k: int, n: int, c: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Gold labels skewed towards class 0 (like no_relation) and k sets of informative probabilities."""
    labels = np.where(rng.random(n) < 0.4, 0, rng.integers(0, c, n))
    logits = rng.normal(size=(k, n, c))
    logits[:, np.arange(n), labels] += rng.uniform(0.5, 3.0, size=(k, 1))
    return labels, softmax(logits)


# --------------------------------------------------------------------------------------------------
# equality with the sklearn recipe


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 40))
    c = draw(st.integers(1, 6))
    labels = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    value = st.sampled_from(TIE_VALUES) | st.floats(0.0, 1.0, allow_subnormal=True)
    cells = draw(st.lists(value, min_size=n * c, max_size=n * c))
    return labels, np.array(cells, dtype=np.float64).reshape(n, c)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_auprc_equals_sklearn_recipe(problem: tuple[np.ndarray, np.ndarray]) -> None:
    labels, probs = problem
    assert abs(auprc(labels, probs) - reference_auprc(labels, probs)) <= TOL


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_micro_f1_equals_sklearn_recipe(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 50))
    c = data.draw(st.integers(1, 6))
    no_relation = data.draw(st.integers(0, c - 1))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    preds = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    # Same floating-point operations as sklearn: bitwise equal, not merely close.
    assert micro_f1(labels, preds, no_relation=no_relation) == reference_micro_f1(
        labels, preds, no_relation=no_relation
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_klue_shaped_sets_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels, probs = klue_like(rng, k=3, n=2000)
    fast = auprc_many(labels, probs)
    preds = probs.argmax(axis=-1)
    f1 = micro_f1_many(labels, preds)
    for i in range(3):
        assert abs(fast[i] - reference_auprc(labels, probs[i])) <= TOL
        assert f1[i] == reference_micro_f1(labels, preds[i])
    # Rounded probabilities (as files written with few decimals hold) tie a lot.
    rounded = np.round(probs[0], 2)
    assert abs(auprc(labels, rounded) - reference_auprc(labels, rounded)) <= TOL
    # float32 scores: the same as sklearn on the same float32 values.
    single = probs[1].astype(np.float32)
    assert abs(auprc(labels, single) - reference_auprc(labels, single)) <= TOL


def test_many_ties_and_few_distinct_values() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 5, 500)
    for levels in (1, 2, 3, 10):
        probs = rng.integers(0, levels, (500, 5)) / max(levels - 1, 1)
        assert abs(auprc(labels, probs) - reference_auprc(labels, probs)) <= TOL
    # Negatives tied with positives in long runs, then a lone positive above them.
    probs = np.zeros((500, 5))
    probs[labels == 3, 3] = 0.5
    probs[rng.random(500) < 0.3, 3] = 0.5
    probs[0, 3] = 0.9
    assert abs(auprc(labels, probs) - reference_auprc(labels, probs)) <= TOL


def test_negative_zero_ties_with_zero() -> None:
    labels = np.array([1, 0, 1, 0])
    probs = np.array([[1.0, -0.0], [1.0, 0.0], [0.5, 0.0], [0.5, -0.0]])
    assert abs(auprc(labels, probs) - reference_auprc(labels, probs)) <= TOL


# --------------------------------------------------------------------------------------------------
# edge cases the facts call out


def test_class_without_positives_scores_half() -> None:
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    # classes 0 and 1 are perfect (1.0 each); class 2 has no positive: 0.5
    expected = (1.0 + 1.0 + 0.5) / 3 * 100
    assert auprc(labels, probs) == pytest.approx(expected, abs=TOL)
    assert reference_auprc(labels, probs) == pytest.approx(expected, abs=TOL)


def test_single_class_present() -> None:
    labels = np.full(6, 2)
    probs = softmax(np.random.default_rng(3).normal(size=(6, 4)))
    assert abs(auprc(labels, probs) - reference_auprc(labels, probs)) <= TOL
    assert micro_f1(labels, probs.argmax(1)) == reference_micro_f1(labels, probs.argmax(1))


def test_one_class_only_all_positive() -> None:
    labels = np.zeros(3, dtype=np.int64)
    probs = np.array([[1.0], [1.0], [1.0]])
    assert auprc(labels, probs) == pytest.approx(reference_auprc(labels, probs), abs=TOL)
    assert micro_f1(labels, labels) == reference_micro_f1(labels, labels) == 0.0


def test_all_predictions_no_relation() -> None:
    labels = np.array([0, 1, 2, 3, 0])
    preds = np.zeros(5, dtype=np.int64)
    assert micro_f1(labels, preds) == 0.0
    assert reference_micro_f1(labels, preds) == 0.0
    # nothing to find and nothing predicted: sklearn's zero division gives 0 too
    assert micro_f1(preds, preds) == reference_micro_f1(preds, preds) == 0.0


def test_no_relation_at_another_index() -> None:
    labels = np.array([2, 2, 1, 0, 0])
    preds = np.array([2, 1, 1, 0, 2])
    # relations are 0 and 1 here: gold {1, 0, 0} -> 3, predicted {1, 1, 0} -> 3, correct {1, 0} -> 2
    assert micro_f1(labels, preds, no_relation=2) == pytest.approx(2 * 2 / 6 * 100)
    assert micro_f1(labels, preds, no_relation=2) == reference_micro_f1(labels, preds, no_relation=2)


def test_n_equals_one() -> None:
    for c in (1, 2, 30):
        for label in {0, c - 1}:
            labels = np.array([label])
            probs = softmax(np.random.default_rng(c).normal(size=(1, c)))
            assert abs(auprc(labels, probs) - reference_auprc(labels, probs)) <= TOL
            preds = probs.argmax(1)
            assert micro_f1(labels, preds) == reference_micro_f1(labels, preds)


def test_perfect_predictions() -> None:
    labels = np.arange(30).repeat(3)
    probs = np.eye(30)[labels]
    assert micro_f1(labels, labels) == 100.0
    assert auprc(labels, probs) == pytest.approx(100.0, abs=TOL)
    assert reference_auprc(labels, probs) == pytest.approx(100.0, abs=TOL)


def test_worst_scores_are_not_perfect() -> None:
    # a sanity check that the fast path is sensitive to the order: reversed scores lose area
    labels = np.array([0, 0, 1, 1])
    good = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    bad = good[:, ::-1].copy()
    assert auprc(labels, good) == pytest.approx(100.0)
    assert auprc(labels, bad) < 60.0
    assert auprc(labels, bad) == pytest.approx(reference_auprc(labels, bad), abs=TOL)


# --------------------------------------------------------------------------------------------------
# batched == single


@pytest.mark.parametrize("chunk_keys", [1, 3 * 200 * 4, 1 << 18])
def test_batched_equals_single(monkeypatch: pytest.MonkeyPatch, chunk_keys: int) -> None:
    monkeypatch.setattr(metrics, "_CHUNK_KEYS", chunk_keys)  # one set per chunk, several, all
    rng = np.random.default_rng(11)
    labels, probs = klue_like(rng, k=7, n=200, c=4)
    probs[3] = np.round(probs[3], 1)  # ties in one set only
    many = auprc_many(labels, probs)
    preds = probs.argmax(-1)
    f1_many = micro_f1_many(labels, preds)
    assert many.shape == f1_many.shape == (7,)
    for i in range(7):
        assert many[i] == auprc(labels, probs[i])
        assert f1_many[i] == micro_f1(labels, preds[i])
        assert abs(many[i] - reference_auprc(labels, probs[i])) <= TOL


def test_batched_with_absent_classes_and_zero_sets() -> None:
    labels = np.array([0, 2, 2, 0])  # classes 1 and 3 absent
    probs = softmax(np.random.default_rng(5).normal(size=(3, 4, 4)))
    many = auprc_many(labels, probs)
    for i in range(3):
        assert abs(many[i] - reference_auprc(labels, probs[i])) <= TOL
    assert auprc_many(labels, probs[:0]).shape == (0,)
    assert micro_f1_many(labels, np.zeros((0, 4), dtype=np.int64)).shape == (0,)


# --------------------------------------------------------------------------------------------------
# refused inputs


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.nan, "NaN"), (np.inf, "infinite"), (-0.1, "negative")],
)
def test_bad_scores_are_refused(value: float, message: str) -> None:
    probs = np.full((3, 2), 0.5)
    probs[1, 1] = value
    with pytest.raises(ValueError, match=message):
        auprc(np.array([0, 1, 0]), probs)


def test_bad_shapes_and_labels_are_refused() -> None:
    probs = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="class index 2"):
        auprc(np.array([0, 1, 2]), probs)
    with pytest.raises(ValueError, match="shape"):
        auprc(np.array([0, 1]), probs)
    with pytest.raises(ValueError, match="empty"):
        micro_f1(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="integer"):
        micro_f1(np.array([0.0, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="negative"):
        micro_f1(np.array([0, 1]), np.array([0, -1]))
    with pytest.raises(ValueError, match="shape"):
        micro_f1(np.array([0, 1]), np.array([0, 1, 1]))


# --------------------------------------------------------------------------------------------------
# score / per-class


def test_score_and_per_class_f1() -> None:
    names = ("no_relation", "a", "b")
    labels = np.array([0, 1, 2, 1])
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.1, 0.2, 0.7]])
    result = score(labels, probs, label_names=names)
    assert set(result) == {"micro_f1", "auprc", "n", "per_class_f1"}
    assert result["n"] == 4
    preds = probs.argmax(1)  # [0, 1, 1, 2]
    assert result["micro_f1"] == reference_micro_f1(labels, preds)
    assert result["auprc"] == pytest.approx(reference_auprc(labels, probs), abs=TOL)
    expected = sklearn.metrics.f1_score(labels, preds, average=None, labels=[0, 1, 2]) * 100
    assert result["per_class_f1"] == pytest.approx(dict(zip(names, expected, strict=True)))
    assert result["per_class_f1"]["no_relation"] == 100.0
    # a class neither present nor predicted scores 0, not NaN
    assert per_class_f1(labels, preds, label_names=(*names, "c"))["c"] == 0.0
    with pytest.raises(ValueError, match="out of range"):
        per_class_f1(labels, preds, label_names=names[:2])
    with pytest.raises(ValueError, match="shape"):
        score(labels, probs, label_names=names[:2])


# --------------------------------------------------------------------------------------------------
# submission files


def klue_probs(rng: np.random.Generator, n: int) -> np.ndarray:
    return softmax(rng.normal(size=(n, len(KLUE_LABELS))))


def write_rows(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("id", "pred_label", "probs")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_submission_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    probs = klue_probs(rng, 20)
    probs[3] = np.float32(probs[3])  # float32 values survive too
    ids = [str(i) for i in range(20)]
    path = tmp_path / "out" / "submission.csv"
    write_submission(path, ids, probs, label_names=KLUE_LABELS)
    assert [p.name for p in path.parent.iterdir()] == ["submission.csv"]  # no temp file left behind
    read_ids, read_probs = read_submission(path, label_names=KLUE_LABELS)
    assert read_ids == ids
    assert np.array_equal(read_probs, probs)  # exact: shortest round-trip reprs
    with open(path, encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    assert list(records[0]) == ["id", "pred_label", "probs"]
    assert [r["pred_label"] for r in records] == [KLUE_LABELS[i] for i in probs.argmax(1)]
    assert records[0]["probs"] == str(probs[0].tolist())


def test_write_submission_to_buffer() -> None:
    buffer = io.StringIO()
    write_submission(buffer, [7, 9], np.eye(3)[[1, 2]], label_names=("no_relation", "a", "b"))
    assert buffer.getvalue() == 'id,pred_label,probs\n7,a,"[0.0, 1.0, 0.0]"\n9,b,"[0.0, 0.0, 1.0]"\n'


@pytest.mark.parametrize(
    ("ids", "probs", "message"),
    [
        (["1"], np.full((1, 3), 0.5), "sums to"),
        (["1", "1"], np.eye(3)[[0, 1]], "duplicates"),
        ([""], np.eye(3)[[0]], "empty"),
        (["1"], np.array([[np.nan, 0.5, 0.5]]), "NaN"),
        (["1", "2"], np.eye(3)[[0]], "shape"),
    ],
)
def test_write_submission_refuses_what_read_would_refuse(ids: list[str], probs: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_submission(io.StringIO(), ids, probs, label_names=("no_relation", "a", "b"))


NAMES3 = ("no_relation", "a", "b")


@pytest.mark.parametrize(
    ("rows", "row", "field", "message"),
    [
        ([["1", "a", "0.1;0.2;0.7"]], 1, "probs", "not a list of numbers"),
        ([["1", "a", "[0.1, x, 0.7]"]], 1, "probs", "not a list of numbers"),
        ([["1", "a", "[0.1, 0.9]"]], 1, "probs", "has 2 values; expected 3"),
        ([["1", "a", "[0.2, 0.2, 0.2]"]], 1, "probs", "sums to 0.6"),
        ([["1", "a", "[0.5, 0.5, 0.5]"]], 1, "probs", "sums to 1.5"),
        ([["1", "a", "[nan, 0.5, 0.5]"]], 1, "probs", "NaN at position 0"),
        ([["1", "a", "[NaN, 0.5, 0.5]"]], 1, "probs", "NaN at position 0"),
        ([["1", "a", "[0.5, inf, 0.5]"]], 1, "probs", "infinite"),
        ([["1", "a", "[1.5, -0.5, 0.0]"]], 1, "probs", "negative"),
        ([["1", "a", "[0.2 0.3 0.5]"]], 1, "probs", "comma-separated"),
        ([["1", "a", "[np.float64(0.2), np.float64(0.3), np.float64(0.5)]"]], 1, "probs", "numpy reprs"),
        ([["1", "a", "[0.2, 0.3, 0.5]"], ["1", "a", "[0.2, 0.3, 0.5]"]], 2, "id", "duplicate id '1' \\(first at row 1"),
        ([["2", "a", "[0.2, 0.3, 0.5]"], ["", "a", "[0.2, 0.3, 0.5]"]], 2, "id", "id is empty"),
        ([["1", "per:nothing", "[0.2, 0.3, 0.5]"]], 1, "pred_label", "unknown label"),
        ([["1", "a", "[0.2, 0.3, 0.5]"], ["2", "a", "[0.2, 0.3, 0.5]", "extra"]], 2, "record", "malformed"),
    ],
)
def test_bad_submission_rows(tmp_path: Path, rows: list[list[str]], row: int, field: str, message: str) -> None:
    path = write_rows(tmp_path / "pred.csv", rows)
    with pytest.raises(DataError, match=rf"pred\.csv: row {row}, field {field}: .*{message}"):
        read_submission(path, label_names=NAMES3)


def test_bad_submission_counts_further_problems(tmp_path: Path) -> None:
    rows = [["1", "a", "[0.2, 0.3, 0.5]"], ["2", "a", "[1, 2]"], ["2", "zz", "[0.2, 0.3, 0.5]"]]
    path = write_rows(tmp_path / "pred.csv", rows)
    with pytest.raises(DataError, match=r"row 2, field probs: .*\(and 2 more problems\)"):
        read_submission(path, label_names=NAMES3)


def test_bad_submission_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_submission(tmp_path / "nope.csv", label_names=NAMES3)
    path = write_rows(tmp_path / "noprobs.csv", [["1", "a"]], header=("id", "pred_label"))
    with pytest.raises(DataError, match=r"lacks the required column.*probs"):
        read_submission(path, label_names=NAMES3)
    path = write_rows(tmp_path / "empty.csv", [])
    with pytest.raises(DataError, match="no data rows"):
        read_submission(path, label_names=NAMES3)
    # pred_label is optional
    path = write_rows(tmp_path / "bare.csv", [["1", "[0.2, 0.3, 0.5]"]], header=("id", "probs"))
    ids, probs = read_submission(path, label_names=NAMES3)
    assert ids == ["1"]
    assert probs.tolist() == [[0.2, 0.3, 0.5]]


# --------------------------------------------------------------------------------------------------
# gold files and score_files

SENTENCE = "이순신은 1545년에 태어났다."
SUBJ = repr({"word": "이순신", "start_idx": 0, "end_idx": 2, "type": "PER"})
OBJ = repr({"word": "1545년", "start_idx": 5, "end_idx": 9, "type": "DAT"})


def test_read_gold_simple_and_dataset(tmp_path: Path) -> None:
    simple = write_rows(tmp_path / "gold.csv", [["a1", "per:title"], ["a2", "no_relation"]], header=("id", "label"))
    ids, labels = read_gold(simple, schema=KLUE_SCHEMA)
    assert ids == ["a1", "a2"]
    assert labels.tolist() == [KLUE_LABELS.index("per:title"), 0]
    dataset = write_rows(
        tmp_path / "train.csv",
        [["0", SENTENCE, SUBJ, OBJ, "per:date_of_birth", "wikipedia"], ["1", SENTENCE, SUBJ, OBJ, "no_relation", ""]],
        header=("id", "sentence", "subject_entity", "object_entity", "label", "source"),
    )
    ids, labels = read_gold(dataset)
    assert ids == ["0", "1"]
    assert labels.tolist() == [25, 0]
    bad = write_rows(tmp_path / "bad.csv", [["a1", "per:nothing"]], header=("id", "label"))
    with pytest.raises(DataError, match="row 1, field label"):
        read_gold(bad)


def gold_and_predictions(tmp_path: Path, n: int = 40) -> tuple[Path, np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, len(KLUE_LABELS), n)
    ids = [f"id{i}" for i in range(n)]
    gold = write_rows(
        tmp_path / "gold.csv", [[i, KLUE_LABELS[c]] for i, c in zip(ids, labels, strict=True)], header=("id", "label")
    )
    return gold, labels, ids, klue_probs(rng, n)


def test_score_files_aligns_by_id(tmp_path: Path) -> None:
    gold, labels, ids, probs = gold_and_predictions(tmp_path)
    order = np.random.default_rng(1).permutation(len(ids))  # predictions in another row order
    pred = tmp_path / "pred.csv"
    write_submission(pred, [ids[i] for i in order], probs[order], label_names=KLUE_LABELS)
    result = score_files(gold, pred)
    expected = score(labels, probs, label_names=KLUE_LABELS)
    assert result.pop("pred_label_mismatches") == 0
    assert result == expected
    assert math.isclose(result["auprc"], reference_auprc(labels, probs), abs_tol=TOL)


def test_score_files_counts_pred_label_mismatches(tmp_path: Path) -> None:
    gold, _labels, ids, probs = gold_and_predictions(tmp_path, n=5)
    rows = [[rid, "no_relation", str(p.tolist())] for rid, p in zip(ids, probs, strict=True)]
    pred = write_rows(tmp_path / "pred.csv", rows)
    expected = int(np.count_nonzero(probs.argmax(1) != 0))
    assert score_files(gold, pred)["pred_label_mismatches"] == expected


def test_score_files_refuses_id_mismatch(tmp_path: Path) -> None:
    gold, _labels, ids, probs = gold_and_predictions(tmp_path, n=12)
    pred = tmp_path / "pred.csv"
    kept = ids[:4]  # 8 missing
    write_submission(pred, [*kept, "zz1", "zz2"], probs[:6], label_names=KLUE_LABELS)
    with pytest.raises(DataError) as info:
        score_files(gold, pred)
    message = str(info.value)
    assert "8 gold id(s) have no prediction (e.g. 'id4', 'id5', 'id6', 'id7', 'id8', ...)" in message
    assert "2 predicted id(s) are not in the gold file (e.g. 'zz1', 'zz2')" in message
    assert "pred.csv" in message
    assert "gold.csv" in message
