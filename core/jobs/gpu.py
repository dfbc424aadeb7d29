"""The GPUs of this machine, as jobs see them.

Owns :class:`Gpu`, :func:`list_gpus` (``nvidia-smi``, else ``torch.cuda``, narrowed by the app's own
``CUDA_VISIBLE_DEVICES``) and the GPU memory each process uses (:func:`gpu_memory_by_pid`). Separate
because it talks to the hardware and nothing else: the local backend schedules with it and the views'
resource use reads it, and a test replaces it without touching the scheduler.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    index: str
    name: str = ""
    uuid: str = ""
    memory_total_mb: float | None = None
    memory_used_mb: float | None = None


def _nvidia_smi(*args: str) -> list[list[str]] | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", *args, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=15,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [[cell.strip() for cell in line.split(",")] for line in out.splitlines() if line.strip()]


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def list_gpus() -> list[Gpu]:
    """The GPUs jobs may use: ``nvidia-smi``, else ``torch.cuda`` when torch is installed.

    A ``CUDA_VISIBLE_DEVICES`` set for the app itself narrows the list (by index or UUID);
    set to ``""`` it hides every GPU, which makes all jobs run on the CPU.
    """
    rows = _nvidia_smi("--query-gpu=index,name,uuid,memory.total,memory.used")
    if rows is not None:
        gpus = [Gpu(r[0], r[1], r[2], _float_or_none(r[3]), _float_or_none(r[4])) for r in rows if len(r) >= 5]
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            keep = [v.strip() for v in visible.split(",") if v.strip()]
            gpus = [g for g in gpus if g.index in keep or g.uuid in keep]
        return gpus
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    # torch numbers the GPUs it can see (after the app's own CUDA_VISIBLE_DEVICES); good enough
    # where nvidia-smi is missing, which in practice means a single-GPU container.
    return [Gpu(str(i), torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]


def gpu_memory_by_pid() -> dict[int, float] | None:
    rows = _nvidia_smi("--query-compute-apps=pid,used_memory")
    if rows is None:
        return None
    out: dict[int, float] = {}
    for r in rows:
        if len(r) >= 2 and r[0].isdigit() and (mb := _float_or_none(r[1])) is not None:
            out[int(r[0])] = out.get(int(r[0]), 0.0) + mb
    return out
