"""Several training processes: `torchrun --nproc_per_node N train.py ...` starts N processes that
find each other through the environment torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR); each drives one GPU. With one process (the default) all of this reduces to nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
