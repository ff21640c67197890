"""``mer3d benchmark --flow``: what optical flow costs on this machine, per method and resolution, and
what a CASME II-sized flow cache (246 clips, about 16,000 frames) costs in time, disk and memory.

Clips are a real face photograph (matplotlib's Grace Hopper, cropped to the face) with a smooth local
deformation of 1-3 px growing over the clip, sensor noise and CASME II's mean length (65 frames), so
the flow has a micro-expression-like motion to find. Each clip is computed as the cache computes it
(``motion_entry``: every frame against the onset) in ``workers`` processes with one OpenCV thread each;
the projection scales the measured frames/s to 16,000 frames.
"""
from __future__ import annotations

import os
import resource
import statistics
import time

import cv2
import numpy as np

from mer3d.data.flow import FLOW_METHODS, optical_flow
from mer3d.data.motion_cache import flow_pool, motion_entry

CASME2_CLIPS, CASME2_FRAMES = 246, 16_000
CLIP_FRAMES = 65


def sample_clip(size: int, frames: int = CLIP_FRAMES, seed: int = 0) -> np.ndarray:
    """Gray uint8 (frames, size, size): a face whose cheek area bulges by up to ``3 * size / 128`` px."""
    from mer3d.inference.sample_faces import TRUE_FACES, face_photo
    from mer3d.data.preprocess import preprocess_frame

    face = preprocess_frame(face_photo("grace_hopper"), size, 1, TRUE_FACES["grace_hopper"])[..., 0].astype(np.float32)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    bump = np.exp(-((x - 0.7 * size) ** 2 + (y - 0.65 * size) ** 2) / (2 * (0.12 * size) ** 2))
    clip = []
    for t in range(frames):
        shift = 3 * size / 128 * np.sin(np.pi * t / (frames - 1)) * bump
        map_x, map_y = (x - shift).astype(np.float32), (y + 0.5 * shift).astype(np.float32)
        warped = cv2.remap(face, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        clip.append(np.clip(warped + rng.normal(0, 1.5, warped.shape), 0, 255))
    return np.stack(clip).astype(np.uint8)


def pair_seconds(method: str, size: int, pairs: int = 10) -> float:
    """Median seconds of one onset-frame flow at ``size`` px on one thread."""
    clip = sample_clip(size, pairs + 1)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        times = []
        for t in range(1, pairs + 1):
            began = time.perf_counter()
            optical_flow(clip[0], clip[t], method)
            times.append(time.perf_counter() - began)
    finally:
        cv2.setNumThreads(threads)
    return statistics.median(times)


def cache_rate(method: str, size: int, clips: int, workers: int) -> float:
    """Frames per second of whole clips' flows computed in ``workers`` processes."""
    sample = [sample_clip(size, seed=k) for k in range(clips)]
    with flow_pool(workers) as pool:
        list(pool.map(motion_entry, ["flow"], [sample[0]], [method], ["onset"], [size]))   # start the workers
        began = time.perf_counter()
        list(pool.map(motion_entry, ["flow"] * clips, sample, [method] * clips, ["onset"] * clips, [size] * clips))
        seconds = time.perf_counter() - began
    return clips * CLIP_FRAMES / seconds


def flow_benchmark(methods=FLOW_METHODS, sizes=(128, 28), clips: int = 8, workers: int | None = None,
                   progress=print) -> dict:
    """Per method and size: ms per frame pair (one thread), seconds per 65-frame clip, frames/s with
    ``workers`` processes, and the projected time, disk and memory of a CASME II-sized flow cache."""
    workers = workers or os.cpu_count() or 1
    rows = []
    for method in methods:
        for size in sizes:
            progress(f"benchmark: {method} flow at {size}x{size} ...")
            pair = pair_seconds(method, size)
            rate = cache_rate(method, size, clips, workers)
            entry_bytes = size * size * 2 * 2   # float16 u, v per frame
            rows.append({"method": method, "size": size, "ms_per_pair": 1000 * pair,
                         "s_per_clip": pair * (CLIP_FRAMES - 1), "frames_per_s": rate,
                         "casme2_minutes": CASME2_FRAMES / rate / 60,
                         "casme2_cache_gib": CASME2_FRAMES * entry_bytes / 2 ** 30})
    worker_peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2 ** 20
    return {"workers": workers, "clips": clips, "clip_frames": CLIP_FRAMES, "rows": rows,
            "worker_peak_rss_gib": worker_peak_gib}


def format_flow_benchmark(report: dict) -> str:
    lines = [f"optical flow, {report['clips']} clips of {report['clip_frames']} frames (a face photo with a 1-3 px "
             f"local motion), {report['workers']} worker processes; projection: CASME II, "
             f"{CASME2_CLIPS} clips, {CASME2_FRAMES:,} frames",
             f"{'method':<10} {'px':>5} {'ms/pair':>9} {'s/clip':>8} {'frames/s':>9} {'CASME II min':>13} "
             f"{'cache GiB':>10}"]
    for r in report["rows"]:
        lines.append(f"{r['method']:<10} {r['size']:>5} {r['ms_per_pair']:>9.2f} {r['s_per_clip']:>8.2f} "
                     f"{r['frames_per_s']:>9.1f} {r['casme2_minutes']:>13.1f} {r['casme2_cache_gib']:>10.3f}")
    lines.append(f"peak memory of one flow worker: {report['worker_peak_rss_gib']:.2f} GiB; a run holds its "
                 f"flows in memory too (the cache size above, float16)")
    return "\n".join(lines)
