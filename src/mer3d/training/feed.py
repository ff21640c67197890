"""The training batches of a fold, handed to the training loop on its device.

Every batch is one item: batch ``b`` of epoch ``e``, cut from the epoch's order (drawn from the
seed of (run, fold, epoch)) and built with ``TrainClips.batches``. Whoever builds it, the main
process (``train.workers: 0``, the default) or ``torch.utils.data.DataLoader`` worker processes
(``train.workers: N``), builds the same tensors, so the worker count never changes a result.

Workers build batches while the model trains. One loader iterator serves all the fold's
remaining epochs, so the workers start once per fold (not per epoch, which ``persistent_workers``
would also avoid) and keep prefetching the next epoch's first batches while the fold validates and
writes its checkpoint. They are spawned, so each holds its own copy of the fold's training clips.
On CUDA, batches come in pinned memory and are copied with ``non_blocking``, so the copy overlaps
the GPU's work.

With ``augment.on_device`` the workers build unaugmented network inputs (the representation of
the window as stored) and each sample's version of the plan (flip, angle) is applied on the
device, batch-wise (``augment_torch``): same plan, same order, same windows, but turned after the
representation rather than before it. Against the CPU path (demo data, 32 px, every turned sample
of an epoch; tests/training/test_feed.py), the inputs differ by:

- ``gray``: the window is standardised with the mean and spread of the unturned frames (turning
  smooths them a little and repeats edge pixels into the corners) and is not rounded to whole
  gray levels after turning: mean abs difference 0.045 (inputs have std 1), turned samples' spread
  0.96 instead of 1.
- ``flow``: u, v in float both ways: mean abs difference 0.0003 px (std 0.36).
- ``flow+strain``, ``apex-flow``: their strain is computed from the unturned flow, then turned as
  a scalar map (a strain magnitude does not change under a rotation or a mirror; its finite
  differences on a turned grid do a little): mean abs difference 0.007 (std 0.12-0.17).
- ``diff`` is refused (``augment_torch.NOT_ON_DEVICE``).
"""
from __future__ import annotations

from itertools import islice
from typing import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from ..data.augment_torch import augment_batch
from ..data.clips import TrainClips, batch_bounds
from ..data.motion_cache import single_opencv_thread

Batch = tuple[torch.Tensor, ...]   # (x, y), or (x, y, flipped, angles) for augmentation on the device


class FoldBatches(Dataset):
    """Item ``(epoch, b)``: batch ``b`` of that epoch, ``(x, y)`` with the plan's augmentation
    applied, or with ``on_device`` ``(x unaugmented, y, flipped (B,) bool, angles (B,) degrees)``."""

    def __init__(self, train_set: TrainClips, batch_size: int, order_seed: Callable[[int], int], on_device: bool):
        self.train_set, self.batch_size, self.order_seed, self.on_device = train_set, batch_size, order_seed, on_device
        self.bounds = batch_bounds(len(train_set), batch_size)
        self._order: tuple[int, list] | None = None

    def order(self, epoch: int) -> list[tuple[int, int, int]]:
        """The epoch's (clip, version, window start) order; kept for the epoch's following batches."""
        if self._order is None or self._order[0] != epoch:
            generator = torch.Generator().manual_seed(self.order_seed(epoch))
            self._order = (epoch, self.train_set.epoch_order(generator))
        return self._order[1]

    def __getitem__(self, key: tuple[int, int]) -> Batch:
        epoch, index = key
        order = self.order(epoch)
        if not self.on_device:
            return next(self.train_set.batches(order, self.batch_size, start_batch=index))
        # Version 0 of every augmentation_plan is (False, 0.0): the window as stored.
        x, y = next(self.train_set.batches([(clip, 0, start) for clip, _, start in order],
                                           self.batch_size, start_batch=index))
        versions = [self.train_set.plan[version] for _, version, _ in order[slice(*self.bounds[index])]]
        return x, y, torch.tensor([f for f, _ in versions]), torch.tensor([a for _, a in versions])


def _quiet_worker(_: int) -> None:
    single_opencv_thread()   # torch already runs one thread in a worker


class TrainingFeed:
    """The batches of ``epochs`` (the fold's remaining ones, in order), each epoch asked for in turn
    with ``epoch(e)`` and consumed whole, as ``(x, y)`` on ``device``."""

    def __init__(self, train_set: TrainClips, config: dict, order_seed: Callable[[int], int], epochs: range,
                 device: torch.device):
        self.batches = FoldBatches(train_set, config["train"]["batch_size"], order_seed, config["augment"]["on_device"])
        self.vectors, self.device, self.epochs = train_set.motion, device, iter(epochs)
        workers = config["train"]["workers"]
        keys = [(epoch, index) for epoch in epochs for index in range(len(self.batches.bounds))]
        # Spawned, as the flow workers are: OpenCV's setNumThreads deadlocked in a fork of a process
        # that had used OpenCV's threads. An explicit generator: the loader draws its workers' seeds from it rather than
        # from torch's global one, whose dropout draws must stay those of a run without workers.
        self.loaded = iter(DataLoader(self.batches, batch_size=None, sampler=keys, num_workers=workers,
                                      pin_memory=device.type == "cuda", worker_init_fn=_quiet_worker,
                                      multiprocessing_context="spawn", generator=torch.Generator())
                           ) if workers and keys else None

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if epoch != next(self.epochs, None):
            raise ValueError(f"epoch {epoch} asked for out of turn")
        steps = len(self.batches.bounds)
        if self.loaded is not None:
            return map(self.to_device, islice(self.loaded, steps))
        return map(self.to_device, (self.batches[epoch, index] for index in range(steps)))

    def to_device(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, *versions = batch
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        return (augment_batch(x, *versions, vectors=self.vectors) if versions else x), y
