"""From annotated clips to what training and evaluation read: each clip's stored data for the
chosen representation (frames, or flow from ``MotionCache``) and the apex its test window is centred on.

Apexes (``data.apex``):
- ``annotated``: the sheet's apex; where the sheet has none ('/' in CASME II, datasets without apex
  annotations) the estimated one, so a run can be ``mixed``;
- ``estimated``: every clip's estimated apex (``flow.estimate_apex``: the frame that moved most from
  the onset), what a deployed system without annotations has;
- ``middle``: the middle frame of onset..offset (SMIC's usual stand-in).
An estimated apex depends on the clip's own frames only, never on a label, so estimating it for a
test clip leaks nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from tqdm import tqdm

from mer3d.data.cache import ClipCache, UnusableClip
from mer3d.data.magnify import Magnification
from mer3d.data.motion_cache import MotionCache
from mer3d.data.records import ClipRecord, Problem
from mer3d.data.representation import REFERENCE_SIZE, flow_resolution, representation
from mer3d.data.sampling import apex_index

APEX_MODES = ("annotated", "estimated", "middle")


@dataclass
class ClipInputs:
    """The clips that could be prepared, in the given order, with their stored data and apexes.
    ``apex_sources[i]`` says where ``apex[i]`` (a position in clip i) came from; ``skipped`` names
    the clips that could not be read (file and row)."""

    records: list[ClipRecord]
    arrays: list[np.ndarray]
    apex: list[int]
    apex_sources: list[str]
    skipped: list[Problem] = field(default_factory=list)


def frames_cache(data: dict, channels: int | None = None, size: int | None = None) -> ClipCache:
    """The preprocessing cache for a config's ``data`` section (other channels or size on request)."""
    return ClipCache(data["cache_dir"], size=size or data["size"], channels=channels or data["channels"],
                     face_crop=data["face_crop"], face_align=data.get("face_align", False),
                     magnify=Magnification.from_config(data.get("magnify")))


def motion_cache(data: dict) -> MotionCache:
    """Flows of gray frames at ``flow_resolution(data)``, resized to ``data.size``."""
    gray = frames_cache(data, channels=1, size=flow_resolution(data))
    return MotionCache(gray, data["size"], data.get("flow", "tvl1"), data.get("flow_reference", "onset"),
                       data.get("workers"))


def source_frames(data: dict, motion: MotionCache) -> ClipCache:
    """The preprocessed frames a representation starts from: the run's own, or the gray frames its
    flows are computed from (``motion.frames``)."""
    return motion.frames if representation(data["representation"]).motion else frames_cache(data)


def prepare_inputs(records: Sequence[ClipRecord], data: dict, progress: bool = True) -> ClipInputs:
    """Every clip's stored data for ``data.representation`` and its test-window apex (``data.apex``).

    A clip that cannot be read or cropped is left out with a problem naming its row; everything
    else that goes wrong is an error.
    """
    stored = representation(data["representation"]).stored
    motion = motion_cache(data)
    cache = source_frames(data, motion)
    kept, arrays, skipped = [], [], []
    for record in tqdm(records, desc="Preprocessing", unit="clip", disable=not progress):
        try:
            arrays.append(cache.load(record))
        except UnusableClip as error:
            skipped.append(Problem(record.source or record.key, record.row, f"clip {record.key} skipped: {error}"))
            continue
        kept.append(record)
    apex, sources = resolve_apexes(kept, [len(a) for a in arrays], data.get("apex", "annotated"), motion, progress)
    if stored == "flow":
        arrays = motion.flows(kept, progress)
    elif stored == "apex-flow":
        arrays = motion.apex_flows(kept, apex, progress)
    return ClipInputs(kept, arrays, apex, sources, skipped)


def resolve_apexes(records: Sequence[ClipRecord], lengths: Sequence[int], mode: str, motion: MotionCache,
                   progress: bool = True) -> tuple[list[int], list[str]]:
    """Each clip's apex position and its source (``annotated``, ``estimated`` or ``middle``)."""
    if mode not in APEX_MODES:
        raise ValueError(f"apex mode must be one of {', '.join(APEX_MODES)}, not {mode!r}")
    if mode == "middle":
        return [(length - 1) // 2 for length in lengths], ["middle"] * len(records)
    annotated = [apex_index(record) for record in records] if mode == "annotated" else [None] * len(records)
    unknown = [i for i, apex in enumerate(annotated) if apex is None]
    estimates = dict(zip(unknown, motion.estimated_apexes([records[i] for i in unknown], progress)))
    apexes = [estimates.get(i, apex) for i, apex in enumerate(annotated)]
    return apexes, ["estimated" if i in estimates else "annotated" for i in range(len(records))]


def apex_agreement(records: Sequence[ClipRecord], cache_dir: str | None = None,
                   progress: bool = True) -> tuple[dict | None, list[Problem]]:
    """How far estimated apexes lie from annotated ones, over the clips that have both: a JSON-ready
    summary in frames (None when no clip has an annotated apex), and a problem for every clip that
    cannot be prepared (the training run would skip it). Computed on 128 px gray face crops
    (``data.face_crop: auto``) in the preprocessing cache, so a later run at those settings reuses them."""
    annotated = [(record, apex_index(record)) for record in records if apex_index(record) is not None]
    if not annotated:
        return None, []
    motion = MotionCache(ClipCache(cache_dir, size=REFERENCE_SIZE, channels=1, face_crop="auto"), REFERENCE_SIZE)
    usable, problems = [], []
    for record, apex in annotated:
        try:
            motion.frames.load(record)
            usable.append((record, apex))
        except UnusableClip as error:
            problems.append(Problem(record.source or record.key, record.row, f"clip {record.key} cannot be "
                                    f"prepared, training would skip it: {error}"))
    estimates = motion.estimated_apexes([record for record, _ in usable], progress)
    gaps = np.abs(np.array(estimates) - np.array([apex for _, apex in usable]))
    summary = {"clips": len(gaps), "median_frames": float(np.median(gaps)) if len(gaps) else None,
               "p90_frames": float(np.percentile(gaps, 90)) if len(gaps) else None,
               "method": "largest mean local DIS flow against the onset (head movement, an affine fit, removed)"}
    return summary, problems


def overall_apex_source(sources: Sequence[str]) -> str:
    """One word for a set of clips: their common source, ``mixed`` when they differ, ``none`` when empty."""
    distinct = set(sources)
    return distinct.pop() if len(distinct) == 1 else ("mixed" if distinct else "none")
