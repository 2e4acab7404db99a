"""Where the tensors live and how they are computed: one owner for every command's device.

    resolve_device("auto")            -> cuda when a GPU is visible, else cpu (a one-line error
                                         for a device that does not exist here)
    Precision(setting, device)        -> autocast for the forward pass, a scaler for float16
    set_threads(n), configure_backend(device), synchronize(device)

On a CPU all of this reduces to nothing: float32, no autocast, no gradient scaler. On CUDA,
mixed precision (`train.precision`): `auto` is bfloat16 autocast where the GPU supports it, else
float16 autocast with a `GradScaler` (float16 gradients underflow without loss scaling; bfloat16
has float32's exponent range and needs none). Distributed training (several processes) lives in
seq2seq/training/distributed.py.

This module imports nothing heavier than torch, so the chat's start-up stays free of training
code.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

from seq2seq.errors import UserError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """`auto`, `cpu`, `cuda`, `cuda:N` or `mps` -> a device that exists here.

    `auto` picks CUDA when a GPU is visible, else the CPU (MPS only on request: some operations
    are still missing or slow there).

    Args:
        name: the `--device` flag.
        local_rank: under torchrun, this process's GPU (it replaces the index of `cuda:N`).

    Raises:
        UserError: one line saying what to use instead.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: expected {DEVICE_NAMES}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "is a CPU-only build" if torch.version.cuda is None else "finds none"
            raise UserError(
                f"--device {name}: CUDA is not available: no CUDA GPU is visible (torch "
                f"{torch.__version__} {why}); use --device cpu"
            )
        index = local_rank if local_rank is not None else (device.index or 0)
        if index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise UserError(f"--device {name}: only {count} CUDA GPU(s) are visible")
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name}: MPS is not available here (use --device cpu)")
    if device.type not in ("cpu", "mps"):
        raise UserError(f"--device {name}: expected {DEVICE_NAMES}")
    return device


class Precision:
    """Autocast and loss scaling for a `train.precision` setting on a device.

    `autocast()` wraps the forward pass; `scaler` wraps backward and the optimizer step and is a
    pass-through unless float16 is in use (`scale(loss)` returns the loss, `step` just steps).
    """

    def __init__(self, setting: str, device: torch.device) -> None:
        self.device = device
        self.dtype = self.choose(setting, device)
        self.name = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    @staticmethod
    def choose(setting: str, device: torch.device) -> torch.dtype | None:
        """The autocast dtype, or None for plain float32 (always on CPU and MPS)."""
        if device.type != "cuda" or setting == "fp32":
            return None
        if setting == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if setting == "bf16" and not torch.cuda.is_bf16_supported():
            raise UserError(
                "train.precision=bf16: this GPU has no bfloat16 support (use fp16 or auto)"
            )
        return torch.bfloat16 if setting == "bf16" else torch.float16

    def autocast(self) -> Any:
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.dtype)


def set_threads(threads: int | None) -> None:
    """Apply a `--threads` flag: torch's CPU threads (None keeps torch's choice, one per core)."""
    if threads is None:
        return
    if threads < 1:
        raise UserError(f"--threads {threads}: must be >= 1")
    torch.set_num_threads(threads)


def configure_backend(device: torch.device) -> None:
    """Let float32 matmuls use TensorFloat-32 on GPUs that have it (Ampere and later): the
    parts autocast leaves in float32, and whole runs with train.precision=fp32."""
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock measures the work and not its launch (a no-op
    on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
