"""Label issues as a finder in :mod:`core.data.finders`' registry (importing this module registers it).

The registry lives in ``core.data``, which may not import ``core.analysis``; so this package registers
its finder itself, and whoever lists the finders (the Data view) imports this module. The findings come
from :func:`core.analysis.label_issues.dataset_label_issues` (confident learning on the dataset's newest
out-of-fold probabilities); without a workspace and dataset, or before any cross-validation, there are none.
"""

from __future__ import annotations

import pandas as pd

from core.analysis.label_issues import dataset_label_issues
from core.data.finders import Finder, FinderInput, findings, register

KIND = "label_issues"


def issue_findings(issues: pd.DataFrame) -> pd.DataFrame:
    """A findings table from :func:`~core.analysis.label_issues.find_label_issues`' table, worst first.

    The score is 1 - cleanlab's label quality; the suggestion is the models' argmax label.
    """
    details = [
        f"given {label} (p={given:.3f}); the models say {suggested} (p={prob:.3f})"
        for label, given, suggested, prob in zip(
            issues["label"], issues["given_prob"], issues["suggested_label"], issues["suggested_prob"], strict=True
        )
    ]
    return findings(
        KIND,
        issues["id"],
        score=1.0 - issues["quality"].astype(float),
        suggestion=issues["suggested_label"].astype(object),
        detail=details,
    )


def find(source: FinderInput) -> pd.DataFrame:
    """The dataset's label issues (none without ``root`` and ``dataset_id``, or without out-of-fold files)."""
    if source.root is None or source.dataset_id is None:
        return findings(KIND, [])
    found = dataset_label_issues(source.root, source.dataset_id, view="issues")
    if found is None:
        return findings(KIND, [])
    table = found[0]
    assert isinstance(table, pd.DataFrame)  # view="issues" gives one table
    return issue_findings(table)


FINDER = register(
    Finder(
        kind=KIND,
        title="Label issues",
        help="Rows whose label a cross-validated model doubts (confident learning on out-of-fold probabilities).",
        find=find,
        # No number next to the title: counting means running confident learning, too slow for every rerun.
        count=lambda source: None,
        order=70,
    )
)
