"""The data map as a finder in :mod:`core.data.finders`' registry (importing this module registers it).

Like the label issues (:mod:`core.analysis.label_issue_finder`), it lives in ``core.analysis`` because
``core.data`` may not import what it needs, and whoever lists the finders (the Data view) imports it. Its
findings are the hard-to-learn rows of the dataset's newest run that recorded training dynamics
(:func:`core.analysis.datamap.dataset_data_map`), lowest confidence first; rows the dataset dropped since the
run, and copies the run's augmentation added, are left out. Without a workspace and dataset, or before any
such run, there are none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.datamap import dataset_data_map, ranked
from core.data.finders import Finder, FinderInput, findings, register

KIND = "data_map"


def map_findings(table: pd.DataFrame) -> pd.DataFrame:
    """A findings table from a data map's table (:func:`~core.analysis.datamap.ranked` hard-to-learn rows).

    The score is 1 - confidence; the suggestion is the model's label at the row's last recorded pass.
    """
    details = [
        f"hard to learn: confidence {c:.3f}, variability {v:.3f}, predicted right {r:.0%} of the evaluations"
        for c, v, r in zip(table["confidence"], table["variability"], table["correctness"], strict=True)
    ]
    # The label now, where the map was joined to the dataset (a row relabelled since may already agree).
    labels = table["label"] if "label" in table else table["run_label"]
    suggestion = [
        s if isinstance(s, str) and s != label else None for s, label in zip(table["model_label"], labels, strict=True)
    ]
    return findings(
        KIND,
        table["id"],
        score=1.0 - np.asarray(table["confidence"], dtype=float),
        suggestion=suggestion,
        detail=details,
    )


def find(source: FinderInput) -> pd.DataFrame:
    """The hard-to-learn rows of the dataset's newest run with dynamics (none without one)."""
    if source.root is None or source.dataset_id is None:
        return findings(KIND, [])
    found = dataset_data_map(source.root, source.dataset_id)
    if found is None:
        return findings(KIND, [])
    table = ranked(found.table, "hard_to_learn")
    if "dropped" in table:  # rows since dropped, and augmented copies, are not rows to fix
        table = table[~table["dropped"].astype(bool) & table["in_dataset"].astype(bool)]
    return map_findings(table)


FINDER = register(
    Finder(
        kind=KIND,
        title="Data map",
        help=(
            "Rows a training run never learned (low confidence in their own label across epochs) or kept changing "
            "its mind about: dataset cartography from the run's recorded training dynamics."
        ),
        find=find,
        # No number next to the title: it would read a run's dynamics file on every rerun of the page.
        count=lambda source: None,
        order=75,
    )
)
