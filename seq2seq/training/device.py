"""Where training runs: the device, mixed precision, several processes, random states.

On a CPU all of this reduces to nothing: float32, no autocast, no gradient scaler, one process.
On CUDA (`--device auto` picks the GPU when there is one):

- mixed precision (`train.precision`): `auto` is bfloat16 autocast where the GPU supports it,
  else float16 autocast with a `GradScaler` (float16 gradients underflow without loss scaling;
  bfloat16 has float32's exponent range and needs none);
- `torchrun --nproc_per_node N train.py ...` starts N processes that find each other through the
  environment torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR); each drives one GPU.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from seq2seq.errors import UserError


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process logs, prints and writes files."""
        return self.rank == 0


def init_distributed(device_name: str) -> Distributed:
    """Join the process group when started by torchrun (WORLD_SIZE > 1), else one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)  # before NCCL starts, or every rank would use GPU 0
    # NCCL moves GPU tensors between GPUs; gloo lets the same code run as CPU processes.
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(dist.get_rank(), local_rank, dist.get_world_size())


def agree_max(value: int, world: Distributed, device: torch.device) -> int:
    """The largest `value` over all processes (so that if one stops, all stop together)."""
    if not world.enabled:
        return value
    tensor = torch.tensor([value], device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def sum_over_processes(value: float, world: Distributed, device: torch.device) -> float:
    """The sum of `value` over all processes (`value` itself with one process)."""
    if not world.enabled:
        return value
    where = device if device.type == "cuda" else "cpu"
    tensor = torch.tensor([value], dtype=torch.float64, device=where)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item())


def close_distributed(world: Distributed) -> None:
    if world.enabled and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(name: str, world: Distributed) -> torch.device:
    """`auto`, `cpu`, `cuda`, `cuda:N` or `mps` -> a device that exists here.

    `auto` picks CUDA when a GPU is visible, else the CPU (MPS only on request: some operations
    are still missing or slow there). Under torchrun each process takes GPU LOCAL_RANK.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: expected auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: no CUDA GPU is visible (use --device cpu)")
        index = world.local_rank if world.enabled else (device.index or 0)
        if index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise UserError(f"--device {name}: only {count} CUDA GPU(s) are visible")
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name}: MPS is not available here (use --device cpu)")
    if device.type not in ("cpu", "mps"):
        raise UserError(f"--device {name}: expected auto, cpu, cuda, cuda:N or mps")
    return device


class Precision:
    """Autocast and loss scaling for `train.precision` on a device.

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


def configure_backend(device: torch.device) -> None:
    """Let float32 matmuls use TensorFloat-32 on GPUs that have it (Ampere and later): the
    parts autocast leaves in float32, and whole runs with train.precision=fp32."""
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")


def seed_everything(seed: int) -> None:
    """Seed every generator a run draws from: Python, NumPy and torch (CPU and all GPUs)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every random state as tensors, lists and numbers, so `weights_only` loading reads it."""
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured (CUDA states only onto as many GPUs as there were)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        count = min(len(state["cuda"]), torch.cuda.device_count())
        for index in range(count):
            torch.cuda.set_rng_state(state["cuda"][index], index)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without disturbing any random state: validation must not change training.

    Without this, whether a run validated at some step (or drew samples there) would change
    every dropout mask after it, and a resumed run would not repeat the uninterrupted one.
    """
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
