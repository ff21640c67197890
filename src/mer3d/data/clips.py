"""The training and test sets the training loop consumes, as explicit, reproducible batches.

There is no hidden random state: the training loop draws an epoch's order from its own
``torch.Generator`` and asks for batches of it, so an interrupted run that restores the generator
and skips the batches already done sees exactly the data an uninterrupted run would (DataLoader
workers, ``train.workers``, only build these same batches elsewhere: ``training/feed.py``).

Clips are stored arrays (T, H, W, C) as ``prepare_inputs`` returns them: uint8 frames, or float16
flow fields for the motion representations. Network inputs are float32 (C, T, H, W) with
T = ``frames``.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from mer3d.data.augment import apply_augmentation
from mer3d.data.representation import representation as registered_representation
from mer3d.data.representation import to_network_input
from mer3d.data.sampling import eval_window_starts, fit_length, random_window_start, take_window


def batch_bounds(count: int, batch_size: int, drop_last: bool = True) -> list[tuple[int, int]]:
    """[start, end) of each batch over ``count`` items.

    With ``drop_last`` an incomplete last batch is left out (BatchNorm cannot train on a batch of
    one), except that fewer items than ``batch_size`` still make one batch when there are two or more.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    bounds = [(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]
    if not drop_last:
        return bounds
    if count < batch_size:
        return bounds if count >= 2 else []
    return [(start, end) for start, end in bounds if end - start == batch_size]


def _stack(inputs: list[torch.Tensor], labels: list) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack(inputs), torch.tensor(labels, dtype=torch.int64)


class TrainClips:
    """The paper's amplified training set: every clip in every augmentation version.

    ``plan`` is ``augmentation_plan(...)``; item (clip_index, version_index, window_start) is clip
    ``clip_index`` in version ``plan[version_index]``, read from ``window_start`` for ``frames`` frames.
    ``labels`` are class indices, or tuples of indices (emotion, gender) for a multitask model.
    """

    def __init__(
        self,
        clips: Sequence[np.ndarray],
        labels: Sequence[int | tuple[int, ...]],
        frames: int,
        representation: str,
        plan: Sequence[tuple[bool, float]],
    ):
        if len(clips) != len(labels):
            raise ValueError(f"{len(clips)} clips but {len(labels)} labels")
        if not plan:
            raise ValueError("the augmentation plan needs at least one version")
        self.motion = registered_representation(representation).motion
        # Stretched once here rather than per sample; long clips are kept as they are, not copied.
        self.clips = [fit_length(clip, frames) for clip in clips]
        self.labels = list(labels)
        self.frames = frames
        self.representation = representation
        self.plan = list(plan)

    def __len__(self) -> int:
        return len(self.clips) * len(self.plan)

    def epoch_order(self, generator: torch.Generator) -> list[tuple[int, int, int]]:
        """Every (clip_index, version_index) once, shuffled, each with a random window start.

        The shuffle and then the starts (in shuffled order) are drawn from ``generator``, so the
        same generator state gives the same epoch.
        """
        pairs = [(clip, version) for clip in range(len(self.clips)) for version in range(len(self.plan))]
        shuffled = [pairs[i] for i in torch.randperm(len(pairs), generator=generator).tolist()]
        return [
            (clip, version, random_window_start(len(self.clips[clip]), self.frames, generator))
            for clip, version in shuffled
        ]

    def sample(self, clip_index: int, version_index: int, start: int) -> torch.Tensor:
        """One network input, float32 (C, T, H, W)."""
        clip = self.clips[clip_index]
        flipped, angle = self.plan[version_index]
        # Flip and rotation act frame by frame, so transforming just the window and the onset
        # frame equals transforming the whole clip, at a fraction of the cost.
        window = take_window(clip, start, self.frames)
        if self.motion:   # float16 flow, turned in float32 as vectors; flow needs no reference frame
            window = apply_augmentation(window.astype(np.float32), flipped, angle, vectors=True)
            return to_network_input(window, window[0], self.representation)
        window = apply_augmentation(window, flipped, angle)
        reference = apply_augmentation(clip[:1], flipped, angle)[0]
        return to_network_input(window, reference, self.representation)

    def batches(
        self,
        order: Sequence[tuple[int, int, int]],
        batch_size: int,
        drop_last: bool = True,
        start_batch: int = 0,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x float32 (B, C, T, H, W), y int64 (B,) or (B, tasks)) over ``order`` as ``batch_bounds`` cuts it.

        ``start_batch`` skips the batches an interrupted epoch already trained on; pass the whole
        order (not a slice of it) so the cut is the same as in the uninterrupted epoch.
        """
        for start, end in batch_bounds(len(order), batch_size, drop_last)[start_batch:]:
            items = order[start:end]
            yield _stack([self.sample(*item) for item in items], [self.labels[item[0]] for item in items])


class EvalClips:
    """Test clips: deterministic windows (centred on the apex, or spread), no augmentation.

    ``apex_indices[i]`` is the apex position in ``clips[i]`` (``sampling.apex_index``) or None.
    """

    def __init__(
        self,
        clips: Sequence[np.ndarray],
        labels: Sequence[int],
        apex_indices: Sequence[int | None],
        frames: int,
        representation: str,
        windows: int = 1,
    ):
        if not len(clips) == len(labels) == len(apex_indices):
            raise ValueError(f"{len(clips)} clips, {len(labels)} labels and {len(apex_indices)} apex indices")
        registered_representation(representation)   # a UserError now rather than at the first clip
        # A clip shorter than the window has a single window position, so its apex no longer matters.
        self.clips = [fit_length(clip, frames) for clip in clips]
        self.labels = list(labels)
        self.apex_indices = list(apex_indices)
        self.frames = frames
        self.representation = representation
        self.windows = windows

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """(x float32 (W, C, T, H, W) with W = ``windows``, label)."""
        clip = self.clips[index]
        starts = eval_window_starts(len(clip), self.frames, self.apex_indices[index], self.windows)
        windows = [take_window(clip, start, self.frames) for start in starts]
        inputs = [to_network_input(window, clip[0], self.representation) for window in windows]
        return torch.stack(inputs), self.labels[index]

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x float32 (B, W, C, T, H, W), y int64 (B,)) over all clips in order; the last may be smaller."""
        for start, end in batch_bounds(len(self), batch_size, drop_last=False):
            items = [self[index] for index in range(start, end)]
            yield _stack([x for x, _ in items], [label for _, label in items])
