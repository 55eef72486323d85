"""Explicit data-parallel plumbing (docs/architecture.md, contract 8): torchrun environment, samplers,
metric all-reduce.

``torchrun --nproc_per_node=N -m voxsep.train RECIPE ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous variables; ``init_distributed`` reads them and starts
the process group (NCCL on GPU, gloo on CPU). Without them it is a no-op and the run is
single-process. Multi-node runs follow from torchrun's rendezvous::

    # on every node (node_rank 0..N-1), same --rdzv_endpoint:
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d \\
        --rdzv_endpoint=HOST0:29500 --rdzv_id=exp1 -m voxsep.train RECIPE --exp-dir DIR
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Start the process group from torchrun's environment variables, if present.

    Args:
        device: this process's device; CUDA selects NCCL (and ``LOCAL_RANK``'s GPU must
            already be chosen), CPU selects gloo.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(
        rank=int(os.environ["RANK"]),
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
    )
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kwargs)
    return info


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: Sequence[float], device: torch.device, info: DistInfo) -> list[float]:
    """Sum a few scalars over all processes (identity when single-process)."""
    tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def broadcast_flag(flag: bool, device: torch.device, info: DistInfo) -> bool:
    """True when ``flag`` is true on any process (e.g. 'stop now')."""
    if not info.enabled:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for example ``index`` of ``epoch``: the same on any rank/worker."""
    mixed = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, index]).generate_state(2, dtype=np.uint32)
    return int(mixed[0]) << 31 ^ int(mixed[1])


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can start mid-epoch and seeds every example.

    The order of an epoch is a permutation drawn from ``seed + epoch`` (as in
    ``DistributedSampler``), sharded ``rank::world_size``. The sampler yields
    ``(index, item_seed)`` pairs; ``SeededDataset`` seeds Python/NumPy/torch RNGs with
    ``item_seed`` before reading the example, so random crops and augmentation depend
    only on (seed, epoch, index) — not on which DataLoader worker or rank reads it. With
    ``start_batch`` the first batches of the epoch are skipped: together these make a
    resumed run see exactly the data of an uninterrupted one.
    """

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int,
        rank: int,
        shuffle: bool,
        seed: int,
        batch_size: int,
        drop_last: bool,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.batch_size = batch_size
        self.start_batch = 0

    def set_start_batch(self, start_batch: int) -> None:
        """Skip this many batches (of ``batch_size``) at the start of the current epoch."""
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())[self.start_batch * self.batch_size:]
        return iter([(i, item_seed(self.seed, self.epoch, i)) for i in indices])

    def __len__(self) -> int:
        return max(0, super().__len__() - self.start_batch * self.batch_size)


class SeededDataset(Dataset):
    """Wraps a dataset so that item ``(index, seed)`` is read with all RNGs seeded.

    The epoch is not part of the key: it reaches the dataset through the dataset's own
    ``set_epoch``, which the trainer calls in the main process before each epoch; voxsep's
    datasets keep it in shared memory, so persistent DataLoader workers see it
    (:class:`voxsep.data.datasets.MixtureDataset`).
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):  # noqa: ANN204 - whatever the dataset returns
        index, seed = key
        in_main_process = torch.utils.data.get_worker_info() is None
        if in_main_process:  # leave the training process's own RNG streams untouched
            saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            if in_main_process:
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])


def shard_indices(length: int, info: DistInfo) -> list[int]:
    """Indices ``rank::world_size`` of ``range(length)`` (no padding: nothing counted twice)."""
    return list(range(info.rank, length, info.world_size))
