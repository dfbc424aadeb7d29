"""The rows a run trains and scores on, resolved from the workspace.

:func:`load_data` turns a config's dataset and split into :class:`TrainingData`: the split's train and
dev ids in the dataset's current (corrected) rows, the test part, and with ``folds`` the held-out fold.
It refuses a missing dataset or split, empty or unlabeled parts and labels outside the dataset's set.
:func:`fold_assignment` and :func:`input_groups` cut the stratified folds of cross-validation, keeping
copies of one model input in one fold. It is separate from the options (:mod:`core.train.config` checks
values on their own) and from the trainer because validating a config, cross-validation and
:func:`core.train.predict.complete_predictions` need the same rows without building a model.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import DataError
from core.train.config import ConfigError, TrainConfig, workspace_root

__all__ = ["INPUT_KEY", "TrainingData", "find_dataset", "fold_assignment", "input_groups", "load_data"]

#: The columns that make a row's model input (entity types aside): rows equal on these are copies.
INPUT_KEY: tuple[str, ...] = ("sentence", "subj_start", "subj_end", "obj_start", "obj_end")


@dataclass
class TrainingData:
    """The rows a run trains and scores on, resolved from the workspace."""

    dataset_id: int
    dataset_name: str
    schema_name: str
    labels: tuple[str, ...]
    train: pd.DataFrame
    dev: pd.DataFrame
    test: pd.DataFrame | None
    revision: int
    split_revision: int
    holdout: pd.DataFrame | None = None  # with folds: the held-out fold of the split's train rows


def find_dataset(ws: Any, name: str) -> Any:
    """The workspace dataset named (or numbered) ``name``, or :class:`ConfigError` suggesting the closest one."""
    try:
        return ws.dataset(name)
    except DataError:
        names = [d.name for d in ws.datasets()]
        close = [n for n in names if name.lower() in n.lower()] or difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown dataset {name!r} in workspace {ws.root}.{hint} Datasets: {', '.join(map(repr, names))}."
        ) from None


def load_data(cfg: TrainConfig) -> TrainingData:
    """Train = the split's train ids in the dataset's current frame, dev = its dev ids, test = the test part."""
    from core.store.workspace import Workspace

    root = workspace_root(cfg)
    if not (root / "restudio.db").exists():
        raise ConfigError(f"No workspace at {root} (no restudio.db); set workspace or RESTUDIO_HOME.")
    ws = Workspace(root)
    info = find_dataset(ws, cfg.dataset)
    split = ws.split(info.id, cfg.split)
    if split is None:
        splits = ws.splits(info.id)
        raise ConfigError(
            f"Dataset {info.name!r} has no split {cfg.split!r}"
            + (f" (it has: {', '.join(map(repr, splits))})." if splits else "; make one in the Data view first.")
        )
    frame = ws.current_frame(info.id, "train")
    ids = frame["id"].astype(str)
    train = frame[ids.isin(set(map(str, split.train_ids)))].reset_index(drop=True)
    dev = frame[ids.isin(set(map(str, split.dev_ids)))].reset_index(drop=True)
    for part, rows in (("train", train), ("dev", dev)):
        if rows.empty:
            raise ConfigError(
                f"Split {cfg.split!r} of dataset {info.name!r} has no {part} rows left"
                " (empty split, or all its rows were dropped); remake the split."
            )
        unlabeled = rows["label"].isna()
        if unlabeled.any():
            raise ConfigError(
                f"Dataset {info.name!r}: {int(unlabeled.sum())} {part} row(s) have no label "
                f"(first id {rows.loc[unlabeled, 'id'].iloc[0]})."
            )
        unknown = sorted(set(rows["label"].astype(str)) - set(info.labels))
        if unknown:
            raise ConfigError(f"Dataset {info.name!r}: {part} rows carry labels outside its label set: {unknown[:5]}.")
    if cfg.labels is not None and set(cfg.labels) != set(info.labels):
        missing = [x for x in info.labels if x not in cfg.labels]
        extra = [x for x in cfg.labels if x not in info.labels]
        problems = []
        if missing:
            problems.append(f"the dataset has {_few(missing)} that the config lacks")
        if extra:
            problems.append(f"the config has {_few(extra)} that the dataset lacks")
        raise ConfigError(f"labels do not match dataset {info.name!r}: {'; '.join(problems)}.")
    holdout = None
    if cfg.folds:
        groups = input_groups(train)
        distinct = len(np.unique(groups))
        if distinct < cfg.folds:
            raise ConfigError(
                f"folds {cfg.folds} is more than the {distinct} distinct train rows of split {cfg.split!r}."
            )
        assignment = fold_assignment(train["id"], train["label"], folds=cfg.folds, seed=cfg.fold_seed, groups=groups)
        held = assignment == cfg.fold
        holdout = train[held].reset_index(drop=True)
        train = train[~held].reset_index(drop=True)
    test = ws.current_frame(info.id, "test") if "test" in info.parts else None
    return TrainingData(
        dataset_id=info.id,
        dataset_name=info.name,
        schema_name=info.schema_name,
        labels=tuple(info.labels),
        train=train,
        dev=dev,
        test=test,
        revision=ws.revision(info.id),
        split_revision=split.revision,
        holdout=holdout,
    )


def fold_assignment(
    ids: Sequence[Any],
    labels: Sequence[Any],
    *,
    folds: int,
    seed: int,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> np.ndarray:
    """The fold (0..folds-1) of each row: sklearn's ``StratifiedKFold`` (shuffled, seeded).

    The rows are put in id order first, so the folds depend on the rows, their labels and the seed,
    never on the order a frame happens to list them in. A label with fewer rows than folds is spread
    over as many folds as it has rows (sklearn's warning about it is expected here and silenced).

    ``groups`` (e.g. :func:`input_groups`) keeps rows of one group in one fold: the folds are drawn over
    each group's first row (in id order, stratified by its label) and the other rows follow it. Copies of
    a sentence then never sit on both sides of a fold, where the model would be scored on a row it trained
    on. This is written out rather than sklearn's ``StratifiedGroupKFold`` for speed: that one loops over
    every group in Python (4.5 s for 32k rows, paid by each fold job and each form check), while copies
    are a handful of rows, so stratifying the first rows is as even and takes about 50 ms for 32k rows.
    """
    import warnings

    from sklearn.model_selection import StratifiedKFold

    id_text = np.asarray([str(i) for i in ids], dtype=object)
    order = np.argsort(id_text, kind="stable")
    y = np.asarray([str(v) for v in labels], dtype=object)[order]
    if groups is None:
        group_of = np.arange(len(order))
    else:
        group_of, _ = pd.factorize(np.asarray(groups, dtype=object)[order])  # codes in order of first row
    firsts = np.unique(group_of, return_index=True)[1]
    first_fold = np.empty(len(firsts), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, held) in enumerate(splitter.split(np.zeros(len(firsts)), y[firsts])):
            first_fold[held] = k
    out = np.empty(len(id_text), dtype=np.int64)
    out[order] = first_fold[group_of]
    return out


def input_groups(frame: pd.DataFrame) -> np.ndarray:
    """A group code per row: rows with the same sentence and entity spans (the same model input) share one."""
    return frame.groupby(list(INPUT_KEY), sort=True, dropna=False).ngroup().to_numpy()


def _few(items: Sequence[str], limit: int = 5) -> str:
    return ", ".join(map(repr, items[:limit])) + (f" and {len(items) - limit} more" if len(items) > limit else "")
