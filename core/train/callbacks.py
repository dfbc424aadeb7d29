"""Stopping a run on request, and watching it from inside the Hugging Face ``Trainer``.

:func:`cancel_budget_s` is the time a stopped run may still spend (``$RESTUDIO_CANCEL_BUDGET_S``, set by
the job backends under their grace period before SIGKILL). :class:`StopFlag` is raised by SIGTERM or
SIGINT (:func:`signals_stop` installs the handlers around a run) or by the caller's ``stop``, and counts
that budget down; before the first step a stop ends the run at once (:class:`CancelledBeforeTraining`).
:func:`trainer_callbacks` are the ``Trainer`` callbacks that log progress, train loss and evaluations
through the run writer and end training at the next step (or an evaluation at once) once the flag is up.
It is separate from :func:`core.train.training.train` so the recipe reads top to bottom while the cancel
contract sits in one place. transformers is imported only when the callbacks are built.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from core.common.settings import CANCEL_BUDGET_ENV, Settings, SettingsError
from core.train.config import ConfigError
from core.train.run_writer import RunWriter

__all__ = [
    "CANCEL_BUDGET_ENV",
    "DEFAULT_CANCEL_BUDGET_S",
    "CancelledBeforeTraining",
    "EvaluationStopped",
    "StopFlag",
    "cancel_budget_s",
    "is_entrypoint",
    "signals_stop",
    "trainer_callbacks",
]

#: The budget without the variable (a run started by hand): under the jobs' default 20 s grace.
DEFAULT_CANCEL_BUDGET_S = 10.0


def cancel_budget_s() -> float:
    """Seconds a stopped run may spend, counted from the stop request, before it must have exited:
    ``$RESTUDIO_CANCEL_BUDGET_S`` (the job backends set it a safety margin under their grace period),
    else :data:`DEFAULT_CANCEL_BUDGET_S`. Raises :class:`ConfigError` for a value that is not a number >= 0."""
    try:
        budget = Settings.from_env().cancel_budget_s
    except SettingsError as exc:  # the training config's error, as a run's other refusals
        raise ConfigError(str(exc)) from exc
    return DEFAULT_CANCEL_BUDGET_S if budget is None else budget


class CancelledBeforeTraining(Exception):
    """The stop request came before the first training step: there is no model worth saving."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


class EvaluationStopped(Exception):
    """Raised from inside the Trainer's evaluation loop to end it at once on a stop request."""


class StopFlag:
    """Set by SIGTERM / SIGINT (main thread only) or by the caller's ``stop`` event or callable.

    Once set, the run has ``budget_s`` seconds (from that moment) to stop, save and predict: the job
    backends SIGKILL a job whose grace period is over, and what is being written then is lost. What does
    not fit is left for :func:`core.train.predict.complete_predictions`.
    """

    def __init__(
        self, stop: threading.Event | Callable[[], bool] | None, *, budget_s: float = DEFAULT_CANCEL_BUDGET_S
    ) -> None:
        self._event = threading.Event()
        self._stop = stop
        self.reason: str | None = None
        self.budget_s = budget_s
        self.set_at: float | None = None  # time.monotonic() of the stop request
        #: True until training starts: a stop then has nothing to save (see signals_stop).
        self.preparing = True

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self.set_at = time.monotonic()
            self._event.set()

    def is_set(self) -> bool:
        if not self._event.is_set() and self._stop is not None:
            asked = self._stop.is_set() if isinstance(self._stop, threading.Event) else bool(self._stop())
            if asked:
                self.set("stop requested")
        return self._event.is_set()

    def remaining(self) -> float | None:
        """Seconds left of the budget; None while no stop was asked for (no limit then)."""
        if not self.is_set() or self.set_at is None:
            return None
        return self.budget_s - (time.monotonic() - self.set_at)

    def out_of_time(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def check(self, stage: str, *, poll: bool = False) -> None:
        """Before training starts: end the run now if a stop was asked for (nothing to save yet).

        A ``stop`` callable is documented as polled once per step, so it is only asked with ``poll``
        (once, right before training); signals and a ``stop`` event count at every check.
        """
        if not self._event.is_set() and isinstance(self._stop, threading.Event) and self._stop.is_set():
            self.set("stop requested")
        if self._event.is_set() or (poll and self.is_set()):
            raise CancelledBeforeTraining(stage)


@contextlib.contextmanager
def signals_stop(flag: StopFlag, writer: RunWriter) -> Iterator[None]:
    """SIGTERM / SIGINT set the stop flag instead of killing the process (restored afterwards).

    Python runs signal handlers in the main thread only, so elsewhere (a thread running train())
    only the ``stop`` argument can stop the run.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    interrupt_preparation = is_entrypoint()

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        flag.set(name)
        if signum == signal.SIGINT:  # a second Ctrl-C interrupts at once
            signal.signal(signal.SIGINT, previous[signal.SIGINT])
        if flag.preparing and interrupt_preparation:
            # Nothing is trained yet, and importing torch alone takes 15-25 s on a busy 2-core machine:
            # waiting for the next check would eat most of the grace period. Raised here, wherever the
            # main thread is; train() records the stop. Only in a `python -m core train` process, which
            # exits right after: a half-finished import must not outlive it in a host process (a test).
            writer.log(f"{name} received before training started: stopping now.")
            raise CancelledBeforeTraining(f"{name} while preparing the run")
        writer.log(f"{name} received: stopping at the next step, then saving.")

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def is_entrypoint() -> bool:
    """This process is ``python -m core ...`` (not a test or the app)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == "core.__main__"


# -- Trainer callbacks ----------------------------------------------------------------------------------


def trainer_callbacks(
    writer: RunWriter, flag: StopFlag, *, samples_per_step: int, logging_steps: int, n_train: int
) -> list[Any]:
    from transformers import TrainerCallback

    class RunLogger(TrainerCallback):
        """metrics.jsonl + train.log: train loss/lr at logging steps, each evaluation, and progress."""

        def __init__(self) -> None:
            self.t0 = time.time()
            self.step0 = 0
            self.last_progress = 0.0
            self.best: tuple[float, int] | None = None
            self.train_samples_per_s: float | None = None
            self.evaluations = 0

        def _rate(self, step: int) -> float | None:
            elapsed = time.time() - self.t0
            return round((step - self.step0) * samples_per_step / elapsed, 2) if elapsed > 0 else None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.t0, self.step0 = time.time(), state.global_step
            writer.record("progress", step=state.global_step, max_steps=state.max_steps, epoch=0.0)
            writer.log(f"training: {state.max_steps} steps over {state.num_train_epochs} epoch(s)")

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Rows actually trained on (epochs done x train rows) per second of the training loop,
            # evaluations included. The Trainer's own figure assumes every planned step ran, which
            # overstates it for a cancelled or early-stopped run.
            elapsed = time.time() - self.t0
            if elapsed > 0 and state.epoch:
                self.train_samples_per_s = round(float(state.epoch) * n_train / elapsed, 2)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            now = time.time()
            step = state.global_step
            if step % logging_steps == 0 or now - self.last_progress >= 5 or step >= state.max_steps:
                self.last_progress = now
                writer.record(
                    "progress",
                    step=step,
                    max_steps=state.max_steps,
                    epoch=state.epoch,
                    samples_per_s=self._rate(step),
                )

        def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **_: Any) -> None:
            logs = dict(logs or {})
            base = {"step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch}
            if "train_runtime" in logs:
                pass  # the Trainer's own end-of-training summary; see on_train_end
            elif any(k.startswith("eval_") for k in logs):
                self.evaluations += 1
                f1 = logs.get("eval_micro_f1")
                if f1 is not None and (self.best is None or f1 > self.best[0]):
                    self.best = (float(f1), state.global_step)
                writer.record(
                    "eval",
                    **base,
                    eval_micro_f1=f1,
                    eval_auprc=logs.get("eval_auprc"),
                    eval_loss=logs.get("eval_loss"),
                )
                # A masked-LM evaluation (TAPT) has a loss and no micro-F1.
                scores = "" if f1 is None else f" micro-F1 {f1:.2f} AUPRC {logs.get('eval_auprc', float('nan')):.2f}"
                writer.log(
                    f"eval step {state.global_step} epoch {state.epoch:.2f}:{scores}"
                    f" loss {logs.get('eval_loss', float('nan')):.4f}"
                )
            elif "loss" in logs:
                writer.record(
                    "train",
                    **base,
                    loss=logs.get("loss"),
                    lr=logs.get("learning_rate"),
                    grad_norm=logs.get("grad_norm"),
                    samples_per_s=self._rate(state.global_step),
                )
                writer.log(
                    f"step {state.global_step}/{state.max_steps} epoch {state.epoch:.2f}: "
                    f"loss {logs['loss']:.4f} lr {logs.get('learning_rate', 0):.3g}"
                )

    class StopOnSignal(TrainerCallback):
        """Ends training at the next step once the stop flag is up (SIGTERM, SIGINT or ``stop``).

        Registered after the Trainer's DefaultFlowCallback, so it has the last word on ``control``.
        """

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if flag.is_set():
                control.should_training_stop = True
                # Our own checkpoint/ is written after train() returns: no Trainer save needed here.
                control.should_save = False
                control.should_evaluate = False

        on_step_begin = on_step_end
        # Leaving the epoch early still runs on_epoch_end, where DefaultFlowCallback asks for an evaluation
        # and a save with per-epoch evaluation: a whole pass over the dev set after the cancel (10 s for
        # 3,247 dev rows of the tiny model on 2 cores, far more for a large model). Cleared here too.
        on_epoch_end = on_step_end

        def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # The evaluation loop has no stop flag of its own: leave it from inside (caught in _train).
            if flag.is_set():
                raise EvaluationStopped

    return [RunLogger(), StopOnSignal()]
