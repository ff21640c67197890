"""Optical flow of every clip, computed once per clip and setting and kept on disk.

Flow is the costly step of the motion representations (TV-L1 takes about 0.18 s per 128x128 frame
pair on one core here), so it is never computed per epoch, fold or comparison cell: each result is
an entry of its own, one ``.npy`` file named by a hash of everything that determines it: the
frames entry it was computed from (``ClipCache.entry_path``: the clip, its files, face crop,
magnification, and the resolution the flow is computed at), what it holds (``kind``), the flow
method and reference, the output size, the apex it used and ``MOTION_VERSION``. Runs and cells
with the same flow settings share entries; any other setting gets its own.

Kinds of entry:
- ``flow``: float16 (T, size, size, 2), every frame against the onset (or previous) frame;
- ``apex-flow``: float16 (1, size, size, 2), the onset-to-apex flow;
- ``apex``: int32 (1,), the estimated apex (``flow.estimate_apex``).

Missing entries are computed in ``workers`` processes (each with one OpenCV thread) while the parent
decodes the next clips, with a progress bar; entries are written atomically as they finish, so an
interrupted build keeps what it finished and never leaves a half-written entry. Entries carry the
frames cache's checksum trailer (``cache.write_entry``/``read_entry``): a damaged one is recomputed
with a warning naming it, never used.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from tqdm import tqdm

from mer3d.data.cache import ClipCache, read_entry, write_entry
from mer3d.data.flow import FLOW_METHODS, FLOW_REFERENCES, clip_flow, estimate_apex, optical_flow, resize_flow
from mer3d.data.records import ClipRecord
from mer3d.errors import UserError

MOTION_VERSION = 2   # 2: entries end in a checksum trailer
APEX_ESTIMATOR = "dis-local-motion-1"   # change whenever flow.estimate_apex changes


def motion_entry(kind: str, frames: np.ndarray, method: str, reference: str, size: int,
                 apex: int | None = None) -> np.ndarray:
    """The content of one entry, from a clip's gray uint8 frames (T, H, W)."""
    if kind == "apex":
        return np.array([estimate_apex(frames)], np.int32)
    if kind == "flow":
        flow = clip_flow(frames, method, reference)
    else:
        flow = optical_flow(frames[0], frames[apex], method)[None]
    return resize_flow(flow, size).astype(np.float16)


def single_opencv_thread() -> None:
    cv2.setNumThreads(1)   # the processes are the parallelism; OpenCV's own threads would oversubscribe


def flow_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for flows: spawned (never a fork of a process that holds torch's threads),
    one OpenCV thread each."""
    return ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), initializer=single_opencv_thread)


class MotionCache:
    """Flow fields and estimated apexes of clips, from the gray frames of ``frames`` (whose ``size``
    is the resolution flows are computed at), resized to ``size``."""

    def __init__(self, frames: ClipCache, size: int, method: str = "tvl1", reference: str = "onset",
                 workers: int | None = None):
        if frames.channels != 1:
            raise ValueError("motion is computed on gray frames: the frames cache needs channels=1")
        if method not in FLOW_METHODS:
            raise UserError(f"data.flow must be one of {', '.join(FLOW_METHODS)}, not {method!r}")
        if reference not in FLOW_REFERENCES:
            raise UserError(f"data.flow_reference must be one of {', '.join(FLOW_REFERENCES)}, not {reference!r}")
        self.frames, self.size, self.method, self.reference = frames, size, method, reference
        self.workers = workers or os.cpu_count() or 1

    def entry_path(self, record: ClipRecord, kind: str, apex: int | None = None) -> Path:
        identity = {"version": MOTION_VERSION, "frames": self.frames.entry_path(record).name, "kind": kind}
        if kind == "apex":   # an estimated apex depends on the frames and the estimator alone
            identity["estimator"] = APEX_ESTIMATOR
        else:
            identity.update(method=self.method, size=self.size)
        if kind == "flow":
            identity["reference"] = self.reference
        if kind == "apex-flow":
            identity["apex"] = apex
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
        return self.frames.cache_dir / "motion" / f"{digest}.npy"

    def estimated_apexes(self, records: Sequence[ClipRecord], progress: bool = True) -> list[int]:
        """Each clip's estimated apex, as a position in the clip."""
        return [int(entry[0]) for entry in self._entries(records, "apex", [None] * len(records), progress)]

    def flows(self, records: Sequence[ClipRecord], progress: bool = True) -> list[np.ndarray]:
        """Each clip's flow of every frame, float16 (T, size, size, 2)."""
        return self._entries(records, "flow", [None] * len(records), progress)

    def apex_flows(self, records: Sequence[ClipRecord], apexes: Sequence[int],
                   progress: bool = True) -> list[np.ndarray]:
        """Each clip's onset-to-apex flow, float16 (1, size, size, 2); ``apexes`` are positions in the clips."""
        return self._entries(records, "apex-flow", apexes, progress)

    def _entries(self, records: Sequence[ClipRecord], kind: str, apexes: Sequence[int | None],
                 progress: bool) -> list[np.ndarray]:
        paths = [self.entry_path(record, kind, apex) for record, apex in zip(records, apexes)]
        entries = [read_entry(path) for path in paths]   # None: missing, or damaged (warned)
        missing = [i for i, entry in enumerate(entries) if entry is None]
        if missing:
            self._compute([records[i] for i in missing], kind, [apexes[i] for i in missing],
                          [paths[i] for i in missing], progress)
        for i in missing:
            entries[i] = read_entry(paths[i])
            if entries[i] is None:
                raise UserError(f"{paths[i]}: cache entry damaged right after it was written; check the disk "
                                f"holding the cache (data.cache_dir)")
        return entries

    def _compute(self, records: list[ClipRecord], kind: str, apexes: list[int | None], paths: list[Path],
                 progress: bool) -> None:
        description = {"flow": f"{self.method} flow", "apex-flow": f"{self.method} apex flow",
                       "apex": "estimating apexes"}[kind]
        bar = tqdm(total=len(records), desc=description, unit="clip", disable=not progress)
        jobs = zip(records, apexes, paths)
        if self.workers == 1 or len(records) == 1:
            for record, apex, path in jobs:
                write_entry(path, motion_entry(kind, self._gray(record), self.method, self.reference, self.size, apex))
                bar.update()
        else:
            with flow_pool(min(self.workers, len(records))) as pool:
                pending: dict[Future, Path] = {}
                for record, apex, path in jobs:
                    pending[pool.submit(motion_entry, kind, self._gray(record), self.method, self.reference,
                                        self.size, apex)] = path
                    _write_finished(pending, bar, wait=False)
                _write_finished(pending, bar, wait=True)
        bar.close()

    def _gray(self, record: ClipRecord) -> np.ndarray:
        return self.frames.load(record)[..., 0]


def _write_finished(pending: dict[Future, Path], bar: tqdm, wait: bool) -> None:
    """Write the entries of finished jobs (all of them, waiting, with ``wait``) and forget them."""
    finished = as_completed(list(pending)) if wait else [future for future in pending if future.done()]
    for future in finished:
        write_entry(pending.pop(future), future.result())
        bar.update()
