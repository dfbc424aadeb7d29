"""Shared fixtures: canonical frames made by hand, and a workspace in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from core.common.schema import COLUMNS

ROOT = Path(__file__).resolve().parent.parent

# `make test` runs two pytest workers (pytest-xdist) on a 2-core machine. Each torch (and each job or
# server a test starts, which inherit the environment) would otherwise use every core, and the spinning
# thread pools of two workers fighting over two cores made the training tests 5x slower (911 s instead of
# 150 s for the cross-validation test). One thread per worker keeps every core busy without that fight.
# Where a test asks for more threads (a run's cpu_threads), idle ones sleep instead of spinning.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def make_frame(rows: list[dict]) -> pd.DataFrame:
    """A canonical frame from partial row dicts (word fields filled from the spans)."""
    out = []
    for i, r in enumerate(rows):
        row = {
            "id": str(r.get("id", i)),
            "sentence": r["sentence"],
            "label": r.get("label", "no_relation"),
            "source": r.get("source", "wikipedia"),
            "row": i + 1,
        }
        for role, default_type in (("subj", "PER"), ("obj", "ORG")):
            start, end = r[role]
            row[f"{role}_start"], row[f"{role}_end"] = start, end
            row[f"{role}_word"] = r.get(f"{role}_word", r["sentence"][start : end + 1])
            row[f"{role}_type"] = r.get(f"{role}_type", default_type)
        out.append(row)
    frame = pd.DataFrame(out)[list(COLUMNS)]
    for col in ("subj_start", "subj_end", "obj_start", "obj_end", "row"):
        frame[col] = frame[col].astype("int64")
    return frame


@pytest.fixture
def small_frame() -> pd.DataFrame:
    return make_frame(
        [
            {
                "id": 0,
                "sentence": "이순신은 1545년에 태어났다.",
                "subj": (0, 2),
                "obj": (5, 9),
                "obj_type": "DAT",
                "label": "per:date_of_birth",
            },
            {
                "id": 1,
                "sentence": "삼성전자의 회장은 이건희이다.",
                "subj": (0, 3),
                "obj": (10, 12),
                "subj_type": "ORG",
                "obj_type": "PER",
                "label": "org:top_members/employees",
            },
            {
                "id": 2,
                "sentence": "김철수와 이영희는 부부이다.",
                "subj": (0, 2),
                "obj": (5, 7),
                "obj_type": "PER",
                "label": "per:spouse",
            },
            {
                "id": 3,
                "sentence": "박지성의 아버지는 박성종이다.",
                "subj": (0, 2),
                "obj": (10, 12),
                "obj_type": "PER",
                "label": "per:parents",
            },
        ]
    )
