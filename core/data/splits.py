"""A reproducible dev split: stratified by label, seeded, stored in the workspace.

Every later training run and ensemble reads the same ids from the workspace, so
numbers across runs are comparable.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from core.store.workspace import Split, Workspace


def make_dev_split(labels: pd.Series, *, dev_fraction: float = 0.1, seed: int = 42) -> tuple[list[str], list[str]]:
    """Split row ids into train and dev, stratified by label.

    Parameters
    ----------
    labels
        Relation label per row, indexed by row id.
    dev_fraction
        Share of rows that go to dev, in (0, 1).
    seed
        Seed for the shuffle; the same seed and rows give the same split.

    Returns
    -------
    (train_ids, dev_ids), each sorted as the rows were given.

    Notes
    -----
    scikit-learn refuses to stratify a class with a single row; such rows go to
    train (a dev row of a class the model never saw says nothing).
    """
    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev_fraction must be between 0 and 1, got {dev_fraction}.")
    labels = labels.dropna()
    ids = labels.index.astype(str).to_numpy()
    counts = labels.value_counts()
    single = labels.isin(counts[counts < 2].index).to_numpy()
    rest_ids, rest_labels = ids[~single], labels.to_numpy()[~single]
    if len(rest_ids) < 2:
        raise ValueError("Too few labeled rows to make a dev split.")
    n_classes = len(set(rest_labels))
    n_dev = max(round(len(rest_ids) * dev_fraction), n_classes)
    if n_dev >= len(rest_ids) - n_classes + 1:
        raise ValueError(f"A dev share of {dev_fraction} leaves no room for every label in train and dev.")
    # Imported here: scikit-learn (and scipy) took 2.3 s of a cold Data view, which only reads splits.
    from sklearn.model_selection import train_test_split

    _, dev_part = train_test_split(rest_ids, test_size=n_dev, random_state=seed, stratify=rest_labels, shuffle=True)
    dev_set = set(dev_part.tolist())
    order = {rid: i for i, rid in enumerate(ids)}
    dev_ids = sorted(dev_set, key=order.__getitem__)
    train_ids = [rid for rid in ids if rid not in dev_set]
    assert len(train_ids) + len(dev_ids) == len(ids)
    return train_ids, dev_ids


def create_split(
    workspace: Workspace,
    dataset_id: int,
    *,
    name: str = "default",
    dev_fraction: float = 0.1,
    seed: int = 42,
    author: str = "unknown",
) -> Split:
    """Make a dev split of the dataset's current (corrected) train rows and store it."""
    frame = workspace.current_frame(dataset_id, "train")
    train_ids, dev_ids = make_dev_split(frame.set_index("id")["label"], dev_fraction=dev_fraction, seed=seed)
    split = Split(
        name=name,
        seed=seed,
        dev_fraction=dev_fraction,
        revision=workspace.revision(dataset_id),
        train_ids=train_ids,
        dev_ids=dev_ids,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        created_by=author,
    )
    workspace.save_split(dataset_id, split)
    return split
