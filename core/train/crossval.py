"""K-fold cross-validation: out-of-fold probabilities for every training row of a dataset revision.

Confident learning (:mod:`core.analysis.label_issues`) needs, for every row, the probabilities of a model that
never trained on it. A cross-validation group is ``k`` ordinary training runs (:mod:`core.train.training`
with ``folds=k``, ``fold=i``, ``fold_seed=seed``): run ``i`` trains on the split's train rows minus
stratified fold ``i`` (copies of a row, same sentence and entity spans, always share a fold:
:func:`core.train.dataset.fold_assignment`), early-stops on the dev split as usual, and writes
``oof_predictions.csv`` for fold ``i`` and ``fold_ids.json`` (the ids it trained on and the ids it held out).
The k runs go through the job system (:func:`submit_crossval`, one job per fold sharing a ``group_id``)
or run one after the other in this process (:func:`run_crossval`, for the CLI and tests).

:func:`stitch_oof` then checks the folds against each other (same dataset revision and split, every
train id held out exactly once, no run trained on a row it held out) and writes one file::

    WORKSPACE/oof/<dataset_id>/r<revision>-<group_id>.csv    id,pred_label,probs (submission format)
    WORKSPACE/oof/<dataset_id>/r<revision>-<group_id>.json   k, seed, revision, split, job ids, run
                                                             folders, config, label order, row ids by source

Dev rows are in the file too (``include_dev``, on by default): no fold trains on them, so the mean of
the k models' dev probabilities is out-of-sample as well, and label errors among dev rows are found too.
They did serve to pick each model's best checkpoint; the sidecar lists them under ``dev_ids``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.common.atomic import atomic_write_text
from core.common.errors import RestudioError
from core.common.schema import DataError
from core.store.runs import RunDir

__all__ = [
    "CrossvalError",
    "CrossvalStatus",
    "FoldJob",
    "OofMeta",
    "cli_crossval",
    "crossval_status",
    "fold_configs",
    "latest_oof",
    "list_oof",
    "load_oof",
    "run_crossval",
    "stitch_oof",
    "stitch_runs",
    "submit_crossval",
]

DEFAULT_K = 5
#: At most this many folds (k models trained): core.train.config.MAX_FOLDS.
MAX_K = 10
#: A group of more folds than this asks the person to confirm first (the Train form's checkbox).
CONFIRM_ABOVE_K = 5
DEFAULT_SEED = 42
OOF_DIR = "oof"


class CrossvalError(RestudioError, ValueError):
    """A cross-validation group that cannot be started or stitched; the message says why."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _root(root: Any) -> Path:
    from core.store.workspace import Workspace

    return Workspace(root).root if not hasattr(root, "db_path") else Path(root.root)


def fold_configs(config: Mapping[str, Any], *, k: int = DEFAULT_K, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """The ``k`` resolved training configs of a group (validated once, against the workspace).

    ``config`` is a training config (:class:`core.train.config.TrainConfig` options); its own ``folds``,
    ``fold`` and ``fold_seed`` are replaced.
    """
    from core.train.training import validate

    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise CrossvalError(f"k must be a whole number of folds, at least 2; got {k!r}.")
    if k > MAX_K:
        raise CrossvalError(f"k must be at most {MAX_K} folds (each fold trains a model); got {k}.")
    base = validate({**dict(config), "folds": k, "fold": 0, "fold_seed": int(seed)}).to_dict()
    return [{**base, "fold": i} for i in range(k)]


def _group_config(fold_config: Mapping[str, Any]) -> dict[str, Any]:
    """A fold's config without its fold index: what the whole group shares."""
    return {key: value for key, value in fold_config.items() if key != "fold"}


# -- through the job system ---------------------------------------------------------------------------


def submit_crossval(
    root: Any,
    config: Mapping[str, Any],
    *,
    k: int = DEFAULT_K,
    seed: int = DEFAULT_SEED,
    backend: str | Any = "local",
    name: str | None = None,
    gpu: str | int | None = None,
    ray_address: str | None = None,
    owner: str | None = None,
) -> str:
    """Queue one training job per fold, all with one new ``group_id``, and return that id.

    The jobs are ordinary training jobs (:func:`core.jobs.submit_training`): they show in the Train
    view, can be cancelled one by one, and run as the backend's slots allow. ``config`` is validated
    first (:class:`core.train.config.ConfigError` before anything is queued), and the server's queue caps
    must have room for all ``k`` jobs of ``owner`` (:class:`core.jobs.QueueFull`), so a group is never
    left half queued by a full queue.
    """
    from core.jobs import check_queue_room, submit_training

    workspace = str(_root(root))
    configs = fold_configs({**dict(config), "workspace": workspace}, k=k, seed=seed)
    check_queue_room(workspace, k, owner=owner)
    group_id = f"cv-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    label = (name or "").strip() or f"crossval {configs[0]['input_format']} · {configs[0]['model']}"
    for cfg in configs:
        submit_training(
            root,
            cfg,
            name=f"{label} · fold {cfg['fold'] + 1}/{k}",
            backend=backend,
            gpu=gpu,
            ray_address=ray_address,
            group_id=group_id,
            owner=owner,
        )
    return group_id


@dataclass(frozen=True)
class FoldJob:
    """One fold of a group as the job store sees it."""

    fold: int
    job_id: int
    status: str
    run_dir: str
    fraction: float | None


@dataclass(frozen=True)
class CrossvalStatus:
    """A group's folds and its overall state.

    ``state``: ``succeeded`` (every fold did; ready to stitch), ``failed`` (a fold failed, was cancelled
    or lost: the group cannot be stitched), ``running`` (a fold runs) or ``queued``.
    """

    group_id: str
    k: int
    folds: tuple[FoldJob, ...]

    @property
    def state(self) -> str:
        statuses = {f.status for f in self.folds}
        if statuses and statuses <= {"succeeded"} and len(self.folds) == self.k:
            return "succeeded"
        if statuses & {"failed", "cancelled", "lost"}:
            return "failed"
        return "running" if "running" in statuses else "queued"

    @property
    def done(self) -> int:
        return sum(f.status == "succeeded" for f in self.folds)

    @property
    def fraction(self) -> float:
        """Overall progress in [0, 1] (the folds' step fractions averaged)."""
        if not self.folds:
            return 0.0
        return float(sum(f.fraction or 0.0 for f in self.folds) / self.k)


@dataclass(frozen=True)
class OofMeta:
    """The sidecar of a stitched out-of-fold file (``r<revision>-<group_id>.json``).

    Attributes
    ----------
    group_id, dataset_id, dataset, revision, split, split_revision
        The group and the dataset revision and split its folds trained on.
    k, seed
        The number of folds and the fold seed.
    job_ids, run_dirs
        The fold jobs (empty when stitched from run folders alone) and their run folders, fold order.
    config
        The folds' shared training config (without ``fold``).
    labels
        Label names in the file's probability column order.
    n_rows, n_train_rows, n_dev_rows, dev_ids
        Rows in the file: out-of-fold train rows, then dev rows (mean of the k models), and the dev ids.
    fold_scores, dev_scores
        Each fold's held-out and dev scores from its ``summary.json`` (None where missing).
    created_at
        When it was stitched (ISO 8601, UTC).
    """

    group_id: str | None = None
    dataset_id: int | None = None
    dataset: str | None = None
    revision: int | None = None
    split: str | None = None
    split_revision: int | None = None
    k: int | None = None
    seed: int | None = None
    job_ids: tuple[int, ...] = ()
    run_dirs: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    n_rows: int | None = None
    n_train_rows: int | None = None
    n_dev_rows: int | None = None
    dev_ids: tuple[str, ...] = ()
    fold_scores: tuple[Any, ...] = ()
    dev_scores: tuple[Any, ...] = ()
    created_at: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OofMeta:
        """Read a sidecar's JSON object. Fields it lacks keep their defaults (a sidecar written by hand or
        by an older version may hold only ``labels`` and ``revision``); other keys are ignored."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        for name in _OOF_SEQUENCES:
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The sidecar's JSON object, keys in the file's order."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _OOF_SEQUENCES:
            out[name] = list(out[name])
        out["config"] = dict(self.config)
        return out


_OOF_SEQUENCES = ("job_ids", "run_dirs", "labels", "dev_ids", "fold_scores", "dev_scores")


def crossval_status(root: Any, group_id: str) -> CrossvalStatus:
    """The folds of a group (after a reconcile of the local backend, so finished jobs are recorded)."""
    from core.jobs import JobStore, LocalBackend, progress

    store = JobStore(root)
    with_jobs = store.list_jobs(group_id=group_id)
    if any(job.backend == "local" and not job.is_final for job in with_jobs):
        LocalBackend(store).reconcile()
        with_jobs = store.list_jobs(group_id=group_id)
    if not with_jobs:
        raise CrossvalError(f"No cross-validation group {group_id!r} in {store.db_path}.")
    folds = []
    k = 0
    for job in with_jobs:
        cfg = job.config or {}
        if not cfg.get("folds"):
            raise CrossvalError(f"Job {job.id} of group {group_id!r} is not a cross-validation fold.")
        k = int(cfg["folds"])
        folds.append(FoldJob(int(cfg["fold"]), job.id, job.status, job.run_dir, progress(job).fraction))
    return CrossvalStatus(group_id, k, tuple(sorted(folds, key=lambda f: f.fold)))


def stitch_oof(root: Any, group_id: str, *, include_dev: bool = True) -> Path:
    """Stitch a finished group's folds into the workspace's out-of-fold file; returns its path.

    Refused (:class:`CrossvalError`) unless every one of the k folds succeeded; see :func:`stitch_runs`
    for the checks on the folds themselves.
    """
    status = crossval_status(root, group_id)
    if status.state != "succeeded":
        problems = [
            f"fold {f.fold + 1} is {f.status} (job {f.job_id})" for f in status.folds if f.status != "succeeded"
        ]
        missing = sorted(set(range(status.k)) - {f.fold for f in status.folds})
        problems += [f"fold {i + 1} has no job" for i in missing]
        raise CrossvalError(f"Group {group_id!r} cannot be stitched yet: {'; '.join(problems)}.")
    return stitch_runs(
        root,
        [f.run_dir for f in status.folds],
        group_id=group_id,
        job_ids=[f.job_id for f in status.folds],
        include_dev=include_dev,
    )


# -- stitching ----------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CrossvalError(f"{path} is missing: the run did not finish as a cross-validation fold.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CrossvalError(f"{path} cannot be read: {exc}.") from None
    if not isinstance(data, dict):
        raise CrossvalError(f"{path} does not hold a JSON object.")
    return data


def _read_predictions(path: Path, label_names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    from core.train.metrics import read_submission

    try:
        return read_submission(path, label_names=label_names)
    except DataError as exc:
        raise CrossvalError(str(exc)) from None


def _few(ids: Sequence[str] | set[str], limit: int = 5) -> str:
    items = sorted(ids, key=lambda s: (len(s), s))
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def stitch_runs(
    root: Any,
    run_dirs: Sequence[str | os.PathLike[str]],
    *,
    group_id: str,
    job_ids: Sequence[int] = (),
    include_dev: bool = True,
) -> Path:
    """Check the fold runs against each other and write the stitched out-of-fold file and its sidecar.

    Checks (each refusal names the run folder and what is wrong): every run succeeded and is a fold of
    the same k, seed, dataset revision and split revision; the folds are 0..k-1 once each; no run's
    train ids meet its held-out ids; every run saw the same set of rows (train + held out); the held-out
    folds cover that set with every id exactly once; each ``oof_predictions.csv`` holds exactly its
    fold's ids; with ``include_dev``, every run predicted the same dev ids.
    """
    from core.store.workspace import Workspace
    from core.train.predict import submission_labels

    if not run_dirs:
        raise CrossvalError("No fold runs to stitch.")
    ws = Workspace(_root(root))
    runs = [Path(r) for r in run_dirs]
    summaries = [_read_json(RunDir(r).summary) for r in runs]
    fold_ids = [_read_json(RunDir(r).fold_ids) for r in runs]
    configs = [_read_json(RunDir(r).config) for r in runs]
    for run, summary in zip(runs, summaries, strict=True):
        if summary.get("status") != "succeeded":
            raise CrossvalError(f"{run}: the run {summary.get('status', 'did not finish')}, not succeeded.")
    first = summaries[0]
    keys = ("dataset_id", "dataset_revision", "split", "split_revision")
    for run, summary in zip(runs, summaries, strict=True):
        for key in keys:
            if summary.get(key) != first.get(key):
                raise CrossvalError(
                    f"{run}: {key} is {summary.get(key)!r} but {runs[0]} has {first.get(key)!r}; the folds "
                    "must all train on the same dataset revision and split (was the data corrected while "
                    "they ran?). Run the cross-validation again."
                )
    k = int(fold_ids[0]["folds"])
    seed = int(fold_ids[0]["fold_seed"])
    if len(runs) != k:
        raise CrossvalError(f"{len(runs)} runs given for a {k}-fold cross-validation.")
    folds = sorted(int(f["fold"]) for f in fold_ids)
    if folds != list(range(k)) or any(int(f["folds"]) != k or int(f["fold_seed"]) != seed for f in fold_ids):
        raise CrossvalError(f"The runs are not folds 1..{k} of one {k}-fold split with seed {seed}.")

    info = ws.dataset(int(first["dataset_id"]))
    label_names = submission_labels(info.schema_name, info.labels)
    universe = set(fold_ids[0]["train_ids"]) | set(fold_ids[0]["holdout_ids"])
    oof_ids: list[str] = []
    oof_probs: list[np.ndarray] = []
    owner: dict[str, Path] = {}
    for run, ids in zip(runs, fold_ids, strict=True):
        train_ids, held_ids = set(ids["train_ids"]), set(ids["holdout_ids"])
        seen = train_ids & held_ids
        if seen:
            raise CrossvalError(f"{run}: the model trained on {len(seen)} of its held-out rows ({_few(seen)}).")
        if train_ids | held_ids != universe:
            raise CrossvalError(f"{run}: its train + held-out rows differ from {runs[0]}'s; the folds do not match.")
        twice = held_ids & owner.keys()
        if twice:
            other = owner[next(iter(twice))]
            raise CrossvalError(f"{run}: rows {_few(twice)} are held out here and in {other} too.")
        oof_file = RunDir(run).oof_predictions
        file_ids, probs = _read_predictions(oof_file, label_names)
        if set(file_ids) != held_ids or len(file_ids) != len(held_ids):
            raise CrossvalError(f"{run}: {oof_file.name} does not hold exactly the fold's held-out ids.")
        owner.update(dict.fromkeys(held_ids, run))
        oof_ids += file_ids
        oof_probs.append(probs)
    uncovered = universe - owner.keys()
    if uncovered:
        raise CrossvalError(f"Train rows {_few(uncovered)} are held out by no fold; the folds do not cover the data.")

    dev_ids: list[str] = []
    ids_out, probs_out = oof_ids, np.vstack(oof_probs)
    if include_dev:
        dev_sets = [_read_predictions(RunDir(run).dev_predictions, label_names) for run in runs]
        dev_ids = dev_sets[0][0]
        for run, (ids, _) in zip(runs, dev_sets, strict=True):
            if ids != dev_ids:
                raise CrossvalError(f"{run}: its dev predictions are for other rows than {runs[0]}'s.")
        overlap = set(dev_ids) & universe
        if overlap:
            raise CrossvalError(f"Dev rows {_few(overlap)} are also train rows; the split is broken.")
        dev_mean = np.mean([probs for _, probs in dev_sets], axis=0)
        ids_out, probs_out = oof_ids + dev_ids, np.vstack([probs_out, dev_mean])

    from core.train.metrics import write_submission

    revision = int(first["dataset_revision"])
    out_dir = ws.root / OOF_DIR / str(info.id)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"r{revision}-{group_id}.csv"
    write_submission(path, ids_out, probs_out, label_names=label_names)
    meta = OofMeta(
        group_id=group_id,
        dataset_id=info.id,
        dataset=info.name,
        revision=revision,
        split=first["split"],
        split_revision=first["split_revision"],
        k=k,
        seed=seed,
        job_ids=tuple(int(j) for j in job_ids),
        run_dirs=tuple(str(r) for r in runs),
        config=_group_config(configs[0]),
        labels=tuple(label_names),
        n_rows=len(ids_out),
        n_train_rows=len(oof_ids),
        n_dev_rows=len(dev_ids),
        dev_ids=tuple(dev_ids),
        fold_scores=tuple(s.get("holdout") for s in summaries),
        dev_scores=tuple(s.get("dev") for s in summaries),
        created_at=_now(),
    )
    atomic_write_text(path.with_suffix(".json"), lambda fh: json.dump(meta.to_dict(), fh, ensure_ascii=False, indent=2))
    return path


def list_oof(root: Any, dataset_id: int) -> list[tuple[Path, OofMeta]]:
    """Every stitched out-of-fold file of a dataset with its sidecar, newest revision (then time) first."""
    folder = _root(root) / OOF_DIR / str(int(dataset_id))
    found = []
    for sidecar in folder.glob("r*.json") if folder.is_dir() else []:
        csv = sidecar.with_suffix(".csv")
        if not csv.exists():
            continue
        try:
            meta = OofMeta.from_dict(json.loads(sidecar.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError):
            continue  # a half-written or foreign file is not an out-of-fold result; list_oof shows the rest
        found.append((csv, meta))
    return sorted(
        found,
        key=lambda item: (-1 if item[1].revision is None else item[1].revision, item[1].created_at or ""),
        reverse=True,
    )


def latest_oof(root: Any, dataset_id: int) -> tuple[Path, OofMeta] | None:
    """The newest stitched out-of-fold file of a dataset and its sidecar, or None.

    Compare ``meta.revision`` with ``Workspace.revision(dataset_id)``: when the data changed since,
    the probabilities are those of the older revision (rows relabelled since keep their old scores).
    """
    found = list_oof(root, dataset_id)
    return found[0] if found else None


def load_oof(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray, tuple[str, ...], OofMeta]:
    """(ids, probabilities, label names in column order, sidecar) of a stitched out-of-fold file."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    meta = OofMeta.from_dict(_read_json(sidecar))
    if not meta.labels:
        raise CrossvalError(f"{sidecar} names no labels: it is not an out-of-fold sidecar.")
    ids, probs = _read_predictions(path, meta.labels)
    return ids, probs, meta.labels, meta


# -- in-process (CLI, tests) --------------------------------------------------------------------------


def run_crossval(
    config: Mapping[str, Any],
    *,
    k: int = DEFAULT_K,
    seed: int = DEFAULT_SEED,
    out_dir: str | os.PathLike[str],
    include_dev: bool = True,
    echo: bool = False,
) -> Path:
    """Train the k folds one after the other in this process (``out_dir/fold-<i>``), then stitch them.

    Returns the stitched file's path (in the workspace, like :func:`stitch_oof`). A fold that does not
    succeed stops the rest (:class:`CrossvalError`).
    """
    from core.train.training import train

    configs = fold_configs(config, k=k, seed=seed)
    out = Path(out_dir).resolve()
    group_id = f"inproc-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    runs = []
    for cfg in configs:
        run = out / f"fold-{cfg['fold'] + 1}"
        if echo:
            print(f"fold {cfg['fold'] + 1}/{k}: training in {run} ...", flush=True)
        summary = train(cfg, run, echo=False)
        if summary["status"] != "succeeded":
            raise CrossvalError(f"Fold {cfg['fold'] + 1} {summary['status']} ({run}); the group is incomplete.")
        if echo:
            held = summary.get("holdout", {})
            print(
                f"fold {cfg['fold'] + 1}/{k}: held-out micro-F1 {held.get('micro_f1', float('nan')):.2f} "
                f"(n={held.get('n')}), {summary['wall_s']:.1f} s",
                flush=True,
            )
        runs.append(run)
    return stitch_runs(configs[0]["workspace"], runs, group_id=group_id, include_dev=include_dev)


def cli_crossval(args: argparse.Namespace) -> int:
    """Run ``crossval`` from parsed arguments: 0 on success; bad input raises CrossvalError/ConfigError
    (ValueError subclasses) and DataError, which ``core.cli`` turns into a one-line message (exit 2)."""
    from core.train.config import load_config, parse_overrides
    from core.train.training import validate

    raw = load_config(args.config) if args.config else {}
    raw.update(parse_overrides(args.overrides))
    if args.stitch:
        root = validate(raw, check_data=False).workspace
        path = stitch_oof(root, args.stitch, include_dev=not args.no_dev)
        print(f"Stitched group {args.stitch}: {path}")
        return 0
    if args.submit:
        from core.jobs import JobError, resolve_ray_cluster

        root = validate(raw, check_data=False).workspace
        if args.backend == "ray" and not args.ray_cluster:
            raise CrossvalError("--backend ray needs --ray-cluster NAME (one of restudio.toml's [ray.clusters]).")
        try:
            address = resolve_ray_cluster(args.ray_cluster) if args.backend == "ray" else None
            group = submit_crossval(root, raw, k=args.folds, seed=args.seed, backend=args.backend, ray_address=address)
        except JobError as exc:  # a refused cluster or a full queue: one line, like the other refusals
            raise CrossvalError(str(exc)) from None
        print(
            f"Queued {args.folds} fold jobs as group {group}. When they succeed: python -m core crossval "
            f"--stitch {group}"
        )
        return 0
    cfg = validate({**raw, "folds": args.folds, "fold": 0, "fold_seed": args.seed})
    out_dir = args.out_dir or (
        Path(str(cfg.workspace)) / "runs" / f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-cv{args.folds}"
    )
    path = run_crossval(raw, k=args.folds, seed=args.seed, out_dir=out_dir, include_dev=not args.no_dev, echo=True)
    meta = load_oof(path)[3]
    print(
        f"Out-of-fold probabilities for {meta.n_rows} rows ({meta.n_train_rows} train, {meta.n_dev_rows} dev) "
        f"of {meta.dataset!r} revision {meta.revision}: {path}"
    )
    return 0


def retrain_cleaned(
    root: Any,
    dataset_id: int,
    *,
    oof_meta: OofMeta,
    name: str | None = None,
    owner: str | None = None,
) -> Any:
    """Queue one job training the cross-validation's config (without folds) on the current, corrected rows.

    ``oof_meta`` is the out-of-fold file's sidecar (:func:`load_oof`, or the label-issue info built on it);
    its ``config`` is what the job trains.

    Its parent is the newest succeeded single (non-fold) job on the same dataset with the same model and
    input format: the "before" that the Train view overlays it with. ``owner`` is who launches it (the
    app passes the session's identity; default :func:`core.jobs.default_owner`). Returns the
    :class:`core.jobs.Job`.
    """
    from core import jobs
    from core.store.workspace import Workspace
    from core.train import training

    ws = Workspace(root)
    info = ws.dataset(dataset_id)
    cfg = training.validate({**oof_meta.config, "folds": 0, "fold": 0, "dataset": info.name, "workspace": str(ws.root)})
    store = jobs.JobStore(ws.root)
    before = [
        j
        for j in store.list_jobs(status="succeeded")
        if j.config
        and not j.config.get("folds")
        and j.config.get("dataset") == info.name
        and (j.config.get("model"), j.config.get("input_format")) == (cfg.model, cfg.input_format)
    ]
    return jobs.submit_training(
        store,
        cfg.to_dict(),
        name=name or f"retrain on cleaned r{ws.revision(dataset_id)}",
        parent_id=before[-1].id if before else None,
        owner=owner,
    )
