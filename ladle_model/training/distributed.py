"""One process or one rank of a torchrun job: process group set-up, autocast, and the few all-reduces training needs.

    ddp = setup_distributed("auto")       # WORLD_SIZE unset or 1: one process on CUDA if present, else CPU
    with autocast_context(ddp.device, "auto"):
        pred = model(lossy)

Rank 0 alone writes checkpoints and logs; every rank calls the collective helpers here.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # we started the process group, so we end it

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_pref: str) -> Distributed:
    """One process (WORLD_SIZE unset or 1), or one rank of a torchrun job: nccl on CUDA, gloo on CPU."""
    use_cuda = device_pref != "cpu" and torch.cuda.is_available()
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' asked for but no CUDA device is visible")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed(device=torch.device("cuda") if use_cuda else torch.device("cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    owns = not dist.is_initialized()
    if owns:
        # A long timeout: rank 0 pre-trains the feature net while the others wait at a barrier.
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=2))
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return Distributed(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)


def teardown_distributed(ddp: Distributed) -> None:
    """End the process group if `setup_distributed` started it."""
    if ddp.owns_group:
        dist.destroy_process_group()


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA ("auto"/"bf16"), nothing on CPU: bf16 matmuls on CPU are slow, not fast."""
    use_bf16 = device.type == "cuda" and precision in ("auto", "bf16") and torch.cuda.is_bf16_supported()
    return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()


def barrier(ddp: Distributed) -> None:
    if ddp.world_size > 1:
        dist.barrier()


def gather_objects(obj: object, ddp: Distributed) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank; [obj] in one process."""
    if ddp.world_size <= 1:
        return [obj]
    gathered = [None] * ddp.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def sum_over_ranks(values: list[float], ddp: Distributed) -> list[float]:
    """Element-wise sum of `values` over all ranks (float64), unchanged in one process."""
    if ddp.world_size <= 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=ddp.device)
    dist.all_reduce(t)
    return t.tolist()


def mean_over_ranks(total: float, count: int, ddp: Distributed) -> float:
    """sum(total) / sum(count) over all ranks; NaN when there is nothing to average."""
    total, count = sum_over_ranks([total, float(count)], ddp)
    return total / count if count else float("nan")


def wrap_model(model: torch.nn.Module, ddp: Distributed) -> torch.nn.Module:
    """The model to call in training: DDP-wrapped across ranks (its backward all-reduces the gradients), else itself.

    On CUDA, TF32 matmuls are allowed too: fp32 parts (the losses) run on tensor cores.
    """
    if ddp.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if ddp.world_size <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[ddp.local_rank] if ddp.device.type == "cuda" else None)


def any_rank(flag: bool, ddp: Distributed) -> bool:
    """True on every rank when `flag` is true on any: ranks that must stop together agree on it."""
    return flag if ddp.world_size <= 1 else sum_over_ranks([float(flag)], ddp)[0] > 0


def main_rank_value(value: float, ddp: Distributed) -> float:
    """Rank 0's `value` on every rank (what the others pass is ignored): one clock decides for all."""
    return value if ddp.world_size <= 1 else sum_over_ranks([value if ddp.is_main else 0.0], ddp)[0]
