"""Training dynamics: each train row's gold-label probability and argmax, recorded while the model trains.

Dataset cartography (Swayamdipta et al., 2020) reads mislabelled and ambiguous rows off one ordinary run:
the mean and spread, across epochs, of the probability the model gives each training row's own label.
Like the original, the figures come from the forward passes training already makes (the model in train
mode, dropout on, each row's logits from the batch it was trained on), not from an extra pass over the
train set: :class:`DynamicsRecorder` is a forward hook on the model that keeps, per row, the gold-label
probability and the argmax of its latest training forward pass, and :meth:`DynamicsRecorder.snapshot` takes
them as one column at each evaluation (per epoch by default, so each row appears exactly once per column).

The trainer knows a row by its position in the train set: the features carry ``row_index``
(:func:`with_row_index`), which :class:`core.train.model.REModel` accepts and ignores, so the Hugging Face
``Trainer`` keeps it in the batch. The file names rows by id, so readers align them by id, never by position.

The run folder's ``dynamics.npz`` (:attr:`core.store.runs.RunDir.dynamics`; numpy's ``.npz``, read with
``allow_pickle=False``)::

    version      int             DYNAMICS_VERSION
    ids          str (n,)        train row ids, in train-set order
    gold         int16 (n,)      each row's label at training time, as an index into ``labels``
    labels       str (L,)        the model's label names, in model order
    gold_prob    float32 (n, E)  P(gold label) at each of the E evaluations; NaN where the row was not
                                 trained on since the previous one (a step cadence shorter than an epoch)
    pred         int16 (n, E)    the argmax label index at the same passes; -1 where not trained on
    step         int64 (E,)      the optimizer step of each evaluation
    epoch        float64 (E,)    the epoch of each evaluation
    dataset_id, dataset_revision int   the rows' dataset and the revision they were read at

It is written again (atomically) at every evaluation, so a cancelled or failed run keeps what it recorded.
torch is imported only inside the recorder's methods; :func:`load_dynamics` needs numpy alone.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.common.atomic import atomic_write_bytes
from core.common.errors import RestudioError
from core.store.runs import DYNAMICS_FILE, RunDir

__all__ = [
    "DYNAMICS_VERSION",
    "ROW_INDEX",
    "Dynamics",
    "DynamicsRecorder",
    "NoDynamicsError",
    "load_dynamics",
    "with_row_index",
]

#: Bumped when the file's layout changes, so an old reader refuses a newer file clearly.
DYNAMICS_VERSION = 1
#: The feature (and ``REModel.forward`` argument) that carries a row's position in the train set.
ROW_INDEX = "row_index"


class NoDynamicsError(RestudioError, FileNotFoundError):
    """A run folder without training dynamics (recording was off, or the run predates it)."""


@dataclass(frozen=True)
class Dynamics:
    """A run's recorded dynamics (the arrays of ``dynamics.npz``; see the module docstring)."""

    ids: np.ndarray
    gold: np.ndarray
    labels: tuple[str, ...]
    gold_prob: np.ndarray
    pred: np.ndarray
    step: np.ndarray
    epoch: np.ndarray
    dataset_id: int
    dataset_revision: int
    path: str = ""

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @property
    def n_evaluations(self) -> int:
        return int(self.gold_prob.shape[1])


def with_row_index(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The train features with each row's position added as :data:`ROW_INDEX` (in place; returned)."""
    for i, item in enumerate(features):
        item[ROW_INDEX] = i
    return features


class DynamicsRecorder:
    """Forward hook on the model that keeps each train row's latest gold probability and argmax.

    Only training forward passes count (``module.training``; evaluation and prediction run in eval mode)
    and only batches that carry :data:`ROW_INDEX` and ``labels``. The buffers live on the model's device,
    so a step adds a softmax over (batch, labels) and two scatters, with no copy to the host; the copy is
    made once per evaluation, in :meth:`snapshot`.

    Parameters
    ----------
    ids, gold : sequences of the train rows in train-set order (ids as str, gold as label indices)
    labels : the label names in model order
    path : where ``dynamics.npz`` goes
    dataset_id, dataset_revision : what the rows were read from
    """

    def __init__(
        self,
        *,
        ids: Sequence[str],
        gold: Sequence[int] | np.ndarray,
        labels: Sequence[str],
        path: str | os.PathLike[str],
        dataset_id: int,
        dataset_revision: int,
    ) -> None:
        self.ids = np.asarray([str(i) for i in ids], dtype=str)
        self.gold = np.asarray(gold, dtype=np.int16)
        if self.gold.shape != (len(self.ids),):
            raise ValueError(f"gold has {self.gold.shape[0]} entries for {len(self.ids)} ids.")
        self.labels = tuple(str(name) for name in labels)
        self.path = Path(path)
        self.dataset_id = int(dataset_id)
        self.dataset_revision = int(dataset_revision)
        self.columns: list[tuple[np.ndarray, np.ndarray]] = []
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self._prob: Any = None  # torch tensors (n,), allocated on the logits' device at the first pass
        self._pred: Any = None
        self._pending = False  # rows trained on since the last snapshot
        self._handle: Any = None
        #: Wall seconds spent recording (hook, snapshots, file writes): the recording's own cost. On a GPU the
        #: hook's kernels run asynchronously, so there it counts their launches, not their run time.
        self.seconds = 0.0

    def attach(self, model: Any) -> DynamicsRecorder:
        """Register the hook on ``model`` (an :class:`core.train.model.REModel`); returns self."""
        self._handle = model.register_forward_hook(self._hook, with_kwargs=True)
        return self

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        rows = kwargs.get(ROW_INDEX)
        labels = kwargs.get("labels")
        if not module.training or rows is None or labels is None:
            return
        import torch

        started = time.perf_counter()
        with torch.no_grad():
            logits = output.logits.detach().float()
            if self._prob is None:
                self._prob = torch.full((len(self.ids),), float("nan"), device=logits.device)
                self._pred = torch.full((len(self.ids),), -1, dtype=torch.int16, device=logits.device)
            device = self._prob.device
            gold = labels.view(-1, 1)
            prob = logits.softmax(dim=-1).gather(1, gold).squeeze(1)
            rows = rows.to(device)
            self._prob[rows] = prob.to(device)
            self._pred[rows] = logits.argmax(dim=-1).to(device=device, dtype=torch.int16)
        self._pending = True
        self.seconds += time.perf_counter() - started

    def snapshot(self, *, step: int, epoch: float) -> bool:
        """Close a column with what was recorded since the last one; False when nothing was."""
        if not self._pending or self._prob is None:
            return False
        started = time.perf_counter()
        self.columns.append((self._prob.cpu().numpy().copy(), self._pred.cpu().numpy().copy()))
        self._prob.fill_(float("nan"))
        self._pred.fill_(-1)
        self._pending = False
        self.steps.append(int(step))
        self.epochs.append(float(epoch))
        self.seconds += time.perf_counter() - started
        return True

    def save(self) -> Path:
        """Write ``dynamics.npz`` atomically with every column so far (none: an (n, 0) array)."""
        started = time.perf_counter()
        n = len(self.ids)
        prob = np.stack([c[0] for c in self.columns], axis=1) if self.columns else np.zeros((n, 0), np.float32)
        pred = np.stack([c[1] for c in self.columns], axis=1) if self.columns else np.zeros((n, 0), np.int16)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            version=np.int64(DYNAMICS_VERSION),
            ids=self.ids,
            gold=self.gold,
            labels=np.asarray(self.labels, dtype=str),
            gold_prob=prob.astype(np.float32),
            pred=pred.astype(np.int16),
            step=np.asarray(self.steps, dtype=np.int64),
            epoch=np.asarray(self.epochs, dtype=np.float64),
            dataset_id=np.int64(self.dataset_id),
            dataset_revision=np.int64(self.dataset_revision),
        )
        atomic_write_bytes(self.path, buffer.getvalue())
        self.seconds += time.perf_counter() - started
        return self.path

    def callback(self) -> Any:
        """A ``TrainerCallback`` that takes a snapshot and saves the file after every evaluation."""
        from transformers import TrainerCallback

        recorder = self

        class RecordDynamics(TrainerCallback):
            def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if recorder.snapshot(step=state.global_step, epoch=float(state.epoch or 0.0)):
                    recorder.save()

        return RecordDynamics()

    def finish(self, *, step: int, epoch: float) -> None:
        """At the end of training: a last column for rows trained on after the last evaluation, and the file.

        A run that evaluates once per epoch and ends at an epoch's end has nothing left; a run stopped
        mid-epoch (cancel, ``max_steps``) gets a partial column, NaN for the rows it did not reach.
        """
        self.detach()
        if self.snapshot(step=step, epoch=epoch) or not self.path.exists():
            self.save()


def load_dynamics(run_dir: str | os.PathLike[str]) -> Dynamics:
    """A run's ``dynamics.npz`` (``run_dir`` may also be the file itself).

    Raises
    ------
    NoDynamicsError
        The run has no dynamics file (recording off, or a run from before recording existed).
    RestudioError
        The file is unreadable, malformed or from a newer RE Studio.
    """
    given = Path(run_dir)
    path = given if given.suffix == ".npz" else RunDir(given).dynamics
    if not path.is_file():
        raise NoDynamicsError(
            f"{given}: no training dynamics ({DYNAMICS_FILE}); train with record_dynamics on (the default) "
            "to get a data map."
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise RestudioError(f"{path}: not a readable dynamics file ({exc}).") from exc
    missing = {"version", "ids", "gold", "labels", "gold_prob", "pred", "step", "epoch"} - set(arrays)
    if missing:
        raise RestudioError(f"{path}: not a dynamics file (no {', '.join(sorted(missing))}).")
    if int(arrays["version"]) > DYNAMICS_VERSION:
        raise RestudioError(f"{path}: dynamics format {int(arrays['version'])} is newer than this RE Studio.")
    ids = arrays["ids"].astype(str)
    n = len(ids)
    prob, pred = arrays["gold_prob"], arrays["pred"]
    if prob.ndim != 2 or prob.shape[0] != n or pred.shape != prob.shape or arrays["gold"].shape != (n,):
        raise RestudioError(f"{path}: arrays of mismatched shapes (ids {n}, gold_prob {prob.shape}).")
    if len(set(ids.tolist())) != n:
        raise RestudioError(f"{path}: the row ids hold duplicates.")
    return Dynamics(
        ids=ids,
        gold=arrays["gold"].astype(np.int64),
        labels=tuple(arrays["labels"].astype(str).tolist()),
        gold_prob=prob.astype(np.float64),
        pred=pred.astype(np.int64),
        step=arrays["step"].astype(np.int64),
        epoch=arrays["epoch"].astype(np.float64),
        dataset_id=int(arrays.get("dataset_id", -1)),
        dataset_revision=int(arrays.get("dataset_revision", -1)),
        path=str(path),
    )
