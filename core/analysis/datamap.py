"""Data maps (dataset cartography, Swayamdipta et al., 2020) from a run's recorded training dynamics.

A run that trained with ``record_dynamics`` on keeps, for every train row, the probability the model gave the
row's own label and whether its argmax was right, at every evaluation (:mod:`core.train.dynamics`). Per row:

confidence
    the mean of the gold-label probability over the evaluations;
variability
    its standard deviation (population, ``ddof=0``, as the original's ``np.std``);
correctness
    the share of the evaluations whose argmax was the gold label;
forgetfulness
    how often the row went from predicted right to predicted wrong between consecutive evaluations (Toneva
    et al., 2019; the original counts a row never predicted right as 1000 times forgotten, here such a row has
    ``learned`` False and its count, 0, stays a count).

Only the evaluations at which a row was trained on count for it (every one, with the default per-epoch
evaluation). The regions are the original's selections: *easy-to-learn* are the ``fraction`` (33 %) of rows
with the highest confidence, *hard-to-learn* the same share with the lowest, *ambiguous* the share with the
highest variability (the original's ``train_dy_filtering`` sorts by one metric and keeps the top share). They
overlap where a low- or high-confidence row also varies much; one region per row is then given by
:data:`REGION_PRECEDENCE` (ambiguous first: "hard to learn" means a low mean *and* a low spread), and a row in
none of the three is ``other``. Ranking hard-to-learn rows by confidence, lowest first, is the budgeted list
the Data view and the acceptance test read (likely label errors first).

Which evaluations: by default those up to the run's best dev micro-F1 (``through="best"``). Past that point the
model stops generalising and starts memorising its train rows, mislabelled ones included: a memorised label flip
turns from low and steady (hard to learn) to rising (ambiguous), and the hard-to-learn list loses it. On the demo
with the tiny model's 15-epoch default, the 90 lowest-confidence hard-to-learn rows hold 50 label flips over all
15 evaluations and 63 over the 13 up to the best dev score (76 over the first 9). ``through`` takes a number of
evaluations, or ``"all"``.

A map is always tied to ids: :func:`align_to_dataset` joins it to the dataset's current rows by id (never by
position) and marks the rows changed since the run's revision (relabelled, edited, dropped or restored), so
a correction is never judged against figures of a label it no longer has without saying so.

Typical use::

    dm = run_data_map(run_dir, root=workspace_root)   # NoDynamicsError when the run recorded none
    dm.regions                                        # {"easy_to_learn": 901, "ambiguous": 891, ...}
    ranked(dm.table, "hard_to_learn").head(90)        # the likeliest label errors
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.errors import RestudioError
from core.store.runs import RunDir, read_summary
from core.store.workspace import RowChange
from core.train.dynamics import Dynamics, NoDynamicsError, load_dynamics

__all__ = [
    "DEFAULT_FRACTION",
    "REGIONS",
    "REGION_PRECEDENCE",
    "REGION_TITLES",
    "DataMap",
    "DataMapError",
    "DynamicsRun",
    "NoDynamicsError",
    "align_to_dataset",
    "assign_regions",
    "best_evaluation",
    "changed_since",
    "cli_datamap",
    "data_map",
    "dataset_data_map",
    "dataset_runs",
    "drop_changes",
    "mark_flagged",
    "ranked",
    "report",
    "row_statistics",
    "run_data_map",
    "selected_ids",
    "window",
]

#: The original's share of rows in each region (its 33 % selections).
DEFAULT_FRACTION = 0.33
#: Region names, in the order they are listed; ``other`` holds the rows in none of the three.
REGIONS: tuple[str, ...] = ("hard_to_learn", "ambiguous", "easy_to_learn", "other")
REGION_TITLES: dict[str, str] = {
    "hard_to_learn": "hard to learn",
    "ambiguous": "ambiguous",
    "easy_to_learn": "easy to learn",
    "other": "other",
}
#: Which region a row in two of them gets (see the module docstring).
REGION_PRECEDENCE: tuple[str, ...] = ("ambiguous", "hard_to_learn", "easy_to_learn")
#: How each region is ranked, likeliest problem first: (column, ascending).
RANKING: dict[str, tuple[str, bool]] = {
    "hard_to_learn": ("confidence", True),
    "ambiguous": ("variability", False),
    "easy_to_learn": ("confidence", False),
    "other": ("confidence", True),
}
#: Row columns copied into the map's table when the dataset has them (to read a row in place).
CONTEXT_COLUMNS: tuple[str, ...] = ("sentence", "subj_word", "subj_type", "obj_word", "obj_type")


def row_statistics(gold_prob: np.ndarray, pred: np.ndarray, gold: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row confidence, variability, correctness, forgetfulness and more from the recorded arrays.

    Parameters
    ----------
    gold_prob : numpy.ndarray (n, E)
        P(gold label) at each evaluation; NaN where the row was not trained on since the previous one.
    pred : numpy.ndarray (n, E)
        The argmax label index at the same passes (any value where ``gold_prob`` is NaN).
    gold : numpy.ndarray (n,)
        Each row's gold label index.

    Returns
    -------
    dict of numpy.ndarray (n,)
        ``confidence``, ``variability`` (NaN for a row never trained on), ``correctness`` (NaN likewise),
        ``forgetfulness`` (int), ``learned`` (bool: predicted right at least once) and ``evaluations`` (int:
        how many evaluations the row has).
    """
    prob = np.asarray(gold_prob, dtype=np.float64)
    pred = np.asarray(pred)
    gold = np.asarray(gold)
    if prob.ndim != 2 or pred.shape != prob.shape or gold.shape != (prob.shape[0],):
        raise ValueError(f"gold_prob {prob.shape}, pred {pred.shape} and gold {gold.shape} do not match.")
    seen = np.isfinite(prob)
    count = seen.sum(axis=1)
    has = count > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row never trained on: NaN, as documented
        confidence = np.nanmean(prob, axis=1)
        variability = np.nanstd(prob, axis=1)
    correct = seen & (pred == gold[:, None])
    correctness = correct.sum(axis=1) / np.where(has, count, 1)
    # Forgetting events along the evaluations each row has (Toneva et al.'s count, the original's loop).
    forgets = np.zeros(len(prob), dtype=np.int64)
    was_right = np.zeros(len(prob), dtype=bool)
    for j in range(prob.shape[1]):
        forgets += seen[:, j] & was_right & ~correct[:, j]
        was_right = np.where(seen[:, j], correct[:, j], was_right)
    nan = np.full(len(prob), np.nan)
    return {
        "confidence": np.where(has, confidence, nan),
        "variability": np.where(has, variability, nan),
        "correctness": np.where(has, correctness, nan),
        "forgetfulness": forgets,
        "learned": correct.any(axis=1),
        "evaluations": count.astype(np.int64),
    }


def _top(values: np.ndarray, ids: np.ndarray, k: int, *, highest: bool) -> np.ndarray:
    """A mask of the ``k`` rows with the highest (lowest) finite values; ties broken by id, so the result
    does not depend on the rows' order."""
    finite = np.flatnonzero(np.isfinite(values))
    key = -values[finite] if highest else values[finite]
    order = finite[np.lexsort((ids[finite], key))]
    mask = np.zeros(len(values), dtype=bool)
    mask[order[:k]] = True
    return mask


def assign_regions(
    confidence: np.ndarray,
    variability: np.ndarray,
    ids: Sequence[str] | np.ndarray,
    *,
    fraction: float = DEFAULT_FRACTION,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each row's region and the three selections (masks) it comes from.

    ``ceil(fraction * n)`` rows (n: rows with figures) go to each selection: lowest confidence
    (hard-to-learn), highest confidence (easy-to-learn), highest variability (ambiguous). A row in two gets
    the first of :data:`REGION_PRECEDENCE`; a row in none (or without figures) is ``other``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    confidence = np.asarray(confidence, dtype=np.float64)
    variability = np.asarray(variability, dtype=np.float64)
    ids = np.asarray([str(i) for i in ids], dtype=object)
    k = int(np.ceil(fraction * int(np.isfinite(confidence).sum())))
    masks = {
        "hard_to_learn": _top(confidence, ids, k, highest=False),
        "easy_to_learn": _top(confidence, ids, k, highest=True),
        "ambiguous": _top(variability, ids, k, highest=True),
    }
    region = np.full(len(confidence), "other", dtype=object)
    for name in reversed(REGION_PRECEDENCE):  # the first of the precedence is written last and wins
        region[masks[name]] = name
    return region, masks


def data_map(dynamics: Dynamics, *, fraction: float = DEFAULT_FRACTION) -> pd.DataFrame:
    """One row per train row of the run: ``id, run_label, confidence, variability, correctness, forgetfulness,
    learned, evaluations, model_label, region`` and the masks ``in_hard_to_learn, in_ambiguous,
    in_easy_to_learn``, in the file's row order. ``run_label`` is the label the row had when the run trained;
    ``model_label`` the argmax at the row's last recorded pass (a relabel's suggestion)."""
    stats = row_statistics(dynamics.gold_prob, dynamics.pred, dynamics.gold)
    region, masks = assign_regions(stats["confidence"], stats["variability"], dynamics.ids, fraction=fraction)
    names = np.asarray(dynamics.labels, dtype=object)
    seen = np.isfinite(dynamics.gold_prob)
    n, e = seen.shape
    last_pred = np.full(n, -1, dtype=np.int64)
    if e:  # each row's latest recorded prediction: its last column with a value
        last = e - 1 - np.argmax(seen[:, ::-1], axis=1)
        last_pred = np.where(seen.any(axis=1), dynamics.pred[np.arange(n), last], -1)
    table = pd.DataFrame(
        {
            "id": dynamics.ids.astype(object),
            "run_label": names[dynamics.gold],
            **stats,
            "model_label": pd.Series([names[p] if 0 <= p < len(names) else None for p in last_pred], dtype=object),
            "region": region,
        }
    )
    for name, mask in masks.items():
        table[f"in_{name}"] = mask
    return table


def ranked(table: pd.DataFrame, region: str | None = None, *, flagged_first: bool = False) -> pd.DataFrame:
    """The table's rows (of ``region``, or all) in that region's order, likeliest problem first
    (:data:`RANKING`; ties by id). With ``flagged_first``, rows with ``flagged`` (:func:`mark_flagged`) lead."""
    if region is not None and region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {region!r}.")
    rows = table if region is None else table[table["region"] == region]
    column, ascending = RANKING[region or "hard_to_learn"]
    keys, orders = [column, "id"], [ascending, True]
    if flagged_first and "flagged" in rows:
        keys, orders = ["flagged", *keys], [False, *orders]
    return rows.sort_values(keys, ascending=orders, kind="stable", na_position="last").reset_index(drop=True)


def mark_flagged(table: pd.DataFrame, flagged_ids: Iterable[Any]) -> pd.DataFrame:
    """The table with ``flagged``: whether another finder (confident learning) also flags the row, by id."""
    wanted = {str(i) for i in flagged_ids}
    return table.assign(flagged=table["id"].astype(str).isin(wanted).to_numpy())


def align_to_dataset(table: pd.DataFrame, frame: pd.DataFrame, *, changed_ids: Iterable[Any] = ()) -> pd.DataFrame:
    """The map joined to the dataset's current rows by id, with what changed since the run.

    Parameters
    ----------
    table : the map (:func:`data_map`), one row per train row of the run
    frame : the dataset's current train rows with dropped rows (``Workspace.current_frame(...,
        include_dropped=True)``): ``id``, ``label``, ``_version`` and, when present, ``_dropped`` and the context
        columns
    changed_ids : ids with a correction logged after the run's revision (see :func:`changed_since`)

    Returns
    -------
    pandas.DataFrame
        ``table`` with ``label`` (the current label), ``_version``, ``in_dataset`` (False for a row the dataset
        does not hold: a copy the run's augmentation added), ``dropped`` (dropped since), ``changed`` (a
        correction since the run, a drop, or a label other than the run's) and the context columns, in
        ``table``'s order.
    """
    current = frame.assign(id=frame["id"].astype(str)).drop_duplicates("id").set_index("id")
    ids = table["id"].astype(str)
    present = ids.isin(current.index).to_numpy()
    joined = current.reindex(ids)
    out = table.copy()
    out["label"] = joined["label"].to_numpy(dtype=object)
    out["_version"] = joined["_version"].fillna(0).astype("int64").to_numpy() if "_version" in joined else 0
    dropped = present & (joined["_dropped"].fillna(False).astype(bool).to_numpy() if "_dropped" in joined else False)
    out["in_dataset"] = present
    out["dropped"] = dropped
    relabelled = out["label"].astype(str).to_numpy() != out["run_label"].astype(str).to_numpy()
    logged = ids.isin({str(i) for i in changed_ids}).to_numpy()
    out["changed"] = present & (relabelled | logged | dropped)
    for name in CONTEXT_COLUMNS:
        if name in joined:
            out[name] = joined[name].to_numpy(dtype=object)
    for name in ("subj_start", "subj_end", "obj_start", "obj_end"):
        if name in joined:
            out[name] = joined[name].fillna(0).astype("int64").to_numpy()
    return out


def changed_since(corrections: pd.DataFrame, revision: int) -> set[str]:
    """Row ids with a correction (any field, undo included) in a change set after ``revision``."""
    if corrections.empty:
        return set()
    return set(corrections.loc[corrections["change_id"] > int(revision), "row_id"].astype(str))


@dataclass(frozen=True)
class DataMap:
    """A run's data map, joined to its dataset's current rows when the workspace was at hand.

    Attributes
    ----------
    table : one row per train row of the run (:func:`data_map`, then :func:`align_to_dataset`)
    run_dir : the run folder
    evaluations : how many evaluations the map covers (the first ones: see ``through`` in :func:`run_data_map`)
    dataset_id, run_revision : the dataset and revision the run trained on
    current_revision : the dataset's revision now (None without a workspace)
    fraction : the share of rows in each region
    recorded : how many evaluations the run recorded
    best_evaluation : the evaluation (1-based, among the recorded) with the run's best dev micro-F1, if known
    """

    table: pd.DataFrame = field(repr=False)
    run_dir: str
    evaluations: int
    dataset_id: int
    run_revision: int
    current_revision: int | None = None
    fraction: float = DEFAULT_FRACTION
    recorded: int = 0
    best_evaluation: int | None = None

    @property
    def regions(self) -> dict[str, int]:
        """Rows per region (every region named, in :data:`REGIONS` order)."""
        counts = self.table["region"].value_counts()
        return {name: int(counts.get(name, 0)) for name in REGIONS}

    @property
    def stale(self) -> bool:
        """Whether the dataset changed since the run (its rows marked ``changed``)."""
        return self.current_revision is not None and self.current_revision != self.run_revision

    @property
    def n_changed(self) -> int:
        return int(self.table["changed"].sum()) if "changed" in self.table else 0


class DataMapError(RestudioError, ValueError):
    """A data map asked for in a way the run cannot give (evaluations it did not record)."""


#: ``through`` values: the evaluations up to the best dev micro-F1 (the default), or every recorded one.
THROUGH_BEST, THROUGH_ALL = "best", "all"


def best_evaluation(run_dir: str | os.PathLike[str], dynamics: Dynamics) -> int | None:
    """How many of the recorded evaluations come up to the run's best dev micro-F1 (from ``metrics.jsonl``; of
    equal scores the last, since the model was no worse until then), and at least two where two were recorded (a
    spread needs two); None when the run logged no dev score."""
    from core.store.runs import read_metric_records

    scored = [
        (float(r["eval_micro_f1"]), int(r.get("step") or 0))
        for r in read_metric_records(Path(run_dir).parent if Path(run_dir).suffix == ".npz" else run_dir)
        if r.get("kind") == "eval" and r.get("eval_micro_f1") is not None
    ]
    if not scored or dynamics.n_evaluations == 0:
        return None
    best_step = max(scored, key=lambda fs: (fs[0], fs[1]))[1]
    covered = int((np.asarray(dynamics.step) <= best_step).sum())
    return min(max(covered, 2), dynamics.n_evaluations)


def window(dynamics: Dynamics, through: int) -> Dynamics:
    """The dynamics of the first ``through`` evaluations."""
    import dataclasses

    k = max(1, min(int(through), dynamics.n_evaluations))
    return dataclasses.replace(
        dynamics,
        gold_prob=dynamics.gold_prob[:, :k],
        pred=dynamics.pred[:, :k],
        step=np.asarray(dynamics.step)[:k],
        epoch=np.asarray(dynamics.epoch)[:k],
    )


def _through(run_dir: str | os.PathLike[str], dyn: Dynamics, through: int | str | None) -> tuple[int, int | None]:
    """(evaluations the map covers, the best one) for a ``through`` request; a count outside 1..recorded is refused."""
    best = best_evaluation(run_dir, dyn)
    if through in (None, THROUGH_BEST):
        return (best or dyn.n_evaluations), best
    if through == THROUGH_ALL:
        return dyn.n_evaluations, best
    try:
        k = int(through)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        message = f"{run_dir}: through must be best, all or a number of evaluations, got {through!r}"
        raise DataMapError(message) from None
    if not 1 <= k <= dyn.n_evaluations:
        raise DataMapError(
            f"{run_dir}: through must be between 1 and {dyn.n_evaluations} (the evaluations recorded), got {k}"
        )
    return k, best


def run_data_map(
    run_dir: str | os.PathLike[str],
    *,
    root: Any = None,
    fraction: float = DEFAULT_FRACTION,
    through: int | str | None = THROUGH_BEST,
) -> DataMap:
    """The data map of a run folder, aligned with its dataset's current rows when ``root`` (a workspace folder
    or :class:`~core.store.workspace.Workspace`) is given or the run's config names a workspace that exists.
    ``through``: the evaluations it covers, ``"best"`` (up to the best dev micro-F1; the default), ``"all"``, or
    a number of evaluations from the first.

    Raises
    ------
    NoDynamicsError
        The run recorded no dynamics (recording off, an older run) or no evaluation yet: there is no map to draw;
    DataMapError
        ``through`` is not best, all or a count of the evaluations recorded.
    """
    dyn = load_dynamics(run_dir)
    if dyn.n_evaluations == 0 or not np.isfinite(dyn.gold_prob).any():
        raise NoDynamicsError(
            f"{run_dir}: the run recorded no training dynamics yet (no evaluation finished); "
            "a data map needs at least one."
        )
    used, best = _through(run_dir, dyn, through)
    table = data_map(window(dyn, used), fraction=fraction)
    ws = _workspace(run_dir, root)
    current = None
    if ws is not None and dyn.dataset_id >= 0 and any(d.id == dyn.dataset_id for d in ws.datasets()):
        frame = ws.current_frame(dyn.dataset_id, include_dropped=True)
        changed = changed_since(ws.corrections(dyn.dataset_id, "train"), dyn.dataset_revision)
        table = align_to_dataset(table, frame, changed_ids=changed)
        current = ws.revision(dyn.dataset_id)
    return DataMap(
        table=table,
        run_dir=str(Path(run_dir)),
        evaluations=used,
        dataset_id=dyn.dataset_id,
        run_revision=dyn.dataset_revision,
        current_revision=current,
        fraction=fraction,
        recorded=dyn.n_evaluations,
        best_evaluation=best,
    )


def _workspace(run_dir: str | os.PathLike[str], root: Any) -> Any:
    from core.store.workspace import Workspace

    if root is not None:
        return root if isinstance(root, Workspace) else Workspace(root)
    try:
        home = json.loads(RunDir(run_dir).config.read_text(encoding="utf-8")).get("workspace")
    except (OSError, ValueError, AttributeError):
        return None
    if not home or not (Path(home) / "restudio.db").is_file():
        return None
    return Workspace(home)


@dataclass(frozen=True)
class DynamicsRun:
    """A run folder of a dataset that recorded training dynamics."""

    run_dir: str
    name: str
    status: str
    finished_at: str
    evaluations: int
    mtime: float


def dataset_runs(root: Any, dataset_id: int) -> list[DynamicsRun]:
    """The workspace's runs of a dataset with a dynamics file (``runs/*/`` and one folder deeper, where
    cross-validation puts its folds), newest first; named ``#job name`` when a job ran them."""
    from core.jobs import JobStore
    from core.store.workspace import Workspace

    ws = root if isinstance(root, Workspace) else Workspace(root)
    folder = ws.root / "runs"
    if not folder.is_dir():
        return []
    names = {}
    try:
        for job in JobStore(ws).list_jobs():
            names[str(Path(job.run_dir).resolve())] = f"#{job.id} {job.name}"
    except (OSError, ValueError):
        pass  # no job store yet: folder names will do
    found = []
    for path in [*folder.glob("*/dynamics.npz"), *folder.glob("*/*/dynamics.npz")]:
        run = path.parent
        summary = read_summary(run)
        if not isinstance(summary, dict) or summary.get("dataset_id") != int(dataset_id):
            continue
        dynamics = summary.get("dynamics") or {}
        found.append(
            DynamicsRun(
                run_dir=str(run),
                name=names.get(str(run.resolve()), str(run.relative_to(folder))),
                status=str(summary.get("status", "?")),
                finished_at=str(summary.get("finished_at") or ""),
                evaluations=int(dynamics.get("evaluations", 0)) if isinstance(dynamics, dict) else 0,
                mtime=path.stat().st_mtime,
            )
        )
    return sorted(found, key=lambda r: r.mtime, reverse=True)


def dataset_data_map(
    root: Any,
    dataset_id: int,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    fraction: float = DEFAULT_FRACTION,
    through: int | str | None = THROUGH_BEST,
) -> DataMap | None:
    """The data map of a dataset's newest run with dynamics (or of ``run_dir``); None when it has none."""
    if run_dir is None:
        runs = dataset_runs(root, dataset_id)
        if not runs:
            return None
        run_dir = runs[0].run_dir
    return run_data_map(run_dir, root=root, fraction=fraction, through=through)


def selected_ids(selection: Mapping[str, Any] | None) -> list[str]:
    """Row ids of a plotly selection (``st.plotly_chart``'s ``event.selection``): each point's first
    ``customdata`` value, which :func:`core.serve.display.data_map_figure` sets to the row id; in order, once."""
    points = (selection or {}).get("points") or []
    out: dict[str, None] = {}
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and data:
            out[str(data[0])] = None
        elif data is not None and not isinstance(data, (list, tuple)):
            out[str(data)] = None
    return list(out)


def drop_changes(table: pd.DataFrame, versions: Mapping[str, int]) -> list[RowChange]:
    """Drop each listed row (rows already dropped, or not in the dataset, are left out); ``versions`` as for every
    correction, so a row edited meanwhile is refused instead of overwritten."""
    rows = table if "dropped" not in table else table[~table["dropped"].astype(bool)]
    if "in_dataset" in rows:
        rows = rows[rows["in_dataset"].astype(bool)]
    return [RowChange(str(rid), versions.get(str(rid), 0), drop=True) for rid in rows["id"]]


# -- command line ---------------------------------------------------------------------------------------


def _number(value: Any, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def report(dm: DataMap) -> dict[str, Any]:
    """``python -m core datamap --json``'s object: the run, ``regions`` (name to count) and ``rows``, one per
    train row of the run in its train-set order (NaN figures, for a row never trained on, are null)."""
    table = dm.table
    has_changes = "changed" in table
    rows = []
    for i, rec in enumerate(table.itertuples(index=False)):
        row: dict[str, Any] = {
            "id": str(rec.id),
            "confidence": _number(rec.confidence),
            "variability": _number(rec.variability),
            "correctness": _number(rec.correctness),
            "forgetfulness": int(rec.forgetfulness),
            "learned": bool(rec.learned),
            "evaluations": int(rec.evaluations),
            "region": str(rec.region),
            "run_label": str(rec.run_label),
            "model_label": None if pd.isna(rec.model_label) else str(rec.model_label),
        }
        if has_changes:
            row["changed"] = bool(table["changed"].iat[i])
            row["in_dataset"] = bool(table["in_dataset"].iat[i])
        rows.append(row)
    return {
        "run": dm.run_dir,
        "evaluations": dm.evaluations,
        "recorded_evaluations": dm.recorded,
        "best_evaluation": dm.best_evaluation,
        "fraction": dm.fraction,
        "dataset_id": dm.dataset_id,
        "run_revision": dm.run_revision,
        "current_revision": dm.current_revision,
        "changed_rows": dm.n_changed if has_changes else None,
        "regions": dm.regions,
        "rows": rows,
    }


def cli_datamap(args: Any) -> int:
    """``python -m core datamap RUN``: region counts, then per-row figures (each region ranked); 0 on success."""
    dm = run_data_map(args.run, root=args.home, fraction=args.fraction, through=getattr(args, "through", THROUGH_BEST))
    if args.json:
        print(json.dumps(report(dm), ensure_ascii=False, allow_nan=False))
        return 0
    best = f"; best dev micro-F1 at evaluation {dm.best_evaluation}" if dm.best_evaluation else ""
    print(
        f"data map of {dm.run_dir}: {len(dm.table):,} train rows, evaluations 1-{dm.evaluations} of the "
        f"{dm.recorded} recorded{best}"
    )
    if dm.current_revision is not None:
        since = f"; now {dm.current_revision}, {dm.n_changed:,} rows changed since (marked *)" if dm.stale else ""
        print(f"dataset #{dm.dataset_id} at revision {dm.run_revision}{since}")
    counts = dm.regions
    print("regions: " + ", ".join(f"{REGION_TITLES[name]} {counts[name]:,}" for name in REGIONS))
    print(f"{'id':>10}  {'region':<14} {'confidence':>10} {'variability':>11} {'correct':>7} {'forgot':>6}  label")
    for name in REGIONS:
        rows = ranked(dm.table, name)
        if args.top is not None:
            rows = rows.head(args.top)
        for rec in rows.itertuples(index=False):
            mark = "*" if getattr(rec, "changed", False) else " "
            figures = " ".join(
                f"{v:>{w}.3f}" if np.isfinite(v) else f"{'nan':>{w}}"
                for v, w in ((rec.confidence, 10), (rec.variability, 11), (rec.correctness, 7))
            )
            print(f"{rec.id!s:>10}{mark} {REGION_TITLES[name]:<14} {figures} {rec.forgetfulness:>6}  {rec.run_label}")
    return 0
