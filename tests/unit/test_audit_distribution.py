"""core.data.audit_distributions.distribution: the plain-Python tables equal the pandas version they replaced,
on any counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.common.schema import KLUE_SCHEMA, TACRED_SCHEMA, LabelSchema
from core.data import audit as audit_mod
from core.data.audit import audit
from core.data.audit_distributions import DISTRIBUTION_COLUMNS, DISTRIBUTIONS, distribution, length_label


def reference_distribution(
    name: str, train: pd.Series | None, test: pd.Series | None, schema: LabelSchema
) -> pd.DataFrame:
    """``core.data.audit_distributions.distribution`` before it was rewritten in plain Python (verbatim)."""
    index = pd.Index([], dtype=object)
    for counts in (train, test):
        if counts is not None:
            index = index.union(counts.index, sort=False)
    if name == "label":
        index = index.union(pd.Index(list(schema.labels), dtype=object), sort=False)
    if name == "sentence_length" and len(index):
        index = pd.Index(range(int(index.max()) + 1))
    frame = pd.DataFrame(index=index)
    for side, counts in (("train", train), ("test", test)):
        if counts is None:
            frame[f"{side}_count"] = np.zeros(len(index), dtype=np.int64)
            frame[f"{side}_share"] = np.nan
            continue
        aligned = counts.reindex(index, fill_value=0).astype(np.int64)
        total = int(aligned.sum())
        frame[f"{side}_count"] = aligned.to_numpy()
        frame[f"{side}_share"] = aligned.to_numpy() / total if total else np.nan
    if name == "sentence_length":
        frame = frame.sort_index()
        values = [length_label(int(i)) for i in frame.index]
    else:
        frame = frame.assign(_name=frame.index.astype(str)).sort_values(
            ["train_count", "test_count", "_name"], ascending=[False, False, True], kind="stable"
        )
        frame = frame.drop(columns="_name")
        values = [str(v) for v in frame.index]
    frame.insert(0, "value", pd.Series(values, index=frame.index, dtype=object))
    return frame.reset_index(drop=True)[list(DISTRIBUTION_COLUMNS)]


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes)
    assert got.index.equals(want.index) and type(got.index) is type(want.index)


# Names as _joint_counts makes them: unique strings in first-appearance order, non-ASCII and odd ones too.
NAMES = st.sampled_from(
    [
        "PER",
        "ORG",
        "LOC",
        "DAT",
        "(missing)",
        "no_relation",
        "per:title",
        "org:members",
        "Ä",
        "é",
        "ㄱ",
        "가",
        "a b",
        "",
    ]
)


def counts_of(names: list[str], counts: list[int]) -> pd.Series:
    return pd.Series(np.asarray(counts, dtype=np.int64), index=pd.Index(names, dtype=object))


@st.composite
def named_counts(draw: Any) -> pd.Series | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    names = draw(st.lists(NAMES, unique=True, max_size=10))
    # Zero counts happen (a label that only the other side has), and ties on both sides.
    counts = draw(st.lists(st.integers(0, 4), min_size=len(names), max_size=len(names)))
    return counts_of(names, counts)


@st.composite
def length_counts(draw: Any) -> pd.Series | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    n = draw(st.integers(1, 32))
    return pd.Series(np.asarray(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from([d for d in DISTRIBUTIONS if d != "sentence_length"]),
    train=named_counts(),
    test=named_counts(),
    schema=st.sampled_from([KLUE_SCHEMA, TACRED_SCHEMA, KLUE_SCHEMA.with_labels(("no_relation", "per:title"))]),
)
def test_named_distributions_equal_the_pandas_version(name, train, test, schema) -> None:
    assert_same(distribution(name, train, test, schema), reference_distribution(name, train, test, schema))


@settings(max_examples=150, deadline=None)
@given(train=length_counts(), test=length_counts())
def test_length_distribution_equals_the_pandas_version(train, test) -> None:
    got = distribution("sentence_length", train, test, KLUE_SCHEMA)
    assert_same(got, reference_distribution("sentence_length", train, test, KLUE_SCHEMA))


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_empty_and_missing_sides(name: str) -> None:
    empty = pd.Series([], dtype=np.int64, index=pd.Index([], dtype=object))
    for train, test in [(None, None), (empty, None), (None, empty), (empty, empty)]:
        got = distribution(name, train, test, KLUE_SCHEMA)
        assert_same(got, reference_distribution(name, train, test, KLUE_SCHEMA))


@pytest.fixture(scope="module")
def demo_frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    from core.data.demo import write_demo_dataset
    from core.data.loading import load_file, load_gold

    out: Path = tmp_path_factory.mktemp("demo-dist")
    write_demo_dataset(out)
    train = load_file(out / "train.csv").frame
    test = load_file(out / "test.csv").frame
    gold = load_gold(out / "test_gold.csv")
    return {
        "train": train,
        "test": test,
        "gold_test": test.assign(label=test["id"].map(gold).astype(test["label"].dtype)),
    }


@pytest.mark.parametrize("test_part", [None, "test", "gold_test", "train_only_head"])
def test_demo_reports_equal_with_the_pandas_version(demo_frames, monkeypatch, test_part) -> None:
    """The whole report, on the demo data with an unlabeled, a labeled and no test part, and a tiny train."""
    train = demo_frames["train"]
    test = demo_frames.get(test_part) if test_part != "train_only_head" else None
    if test_part == "train_only_head":
        train = train.head(3)
    fast = audit(train, test)
    monkeypatch.setattr(audit_mod, "distribution", reference_distribution)  # audit() looks it up there
    slow = audit(train, test)
    for name in DISTRIBUTIONS:
        assert_same(fast.distributions[name], slow.distributions[name])
    assert fast.divergence.keys() == slow.divergence.keys()
    for name, value in fast.divergence.items():
        assert (np.isnan(value) and np.isnan(slow.divergence[name])) or value == slow.divergence[name]
