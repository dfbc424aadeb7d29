"""Shared fixtures: canonical frames made by hand, and a workspace in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.frames import make_frame

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
