"""Speed of the training data pipeline alone, for ``mer3d benchmark``: clips/s that window sampling,
the paper's augmentation and the representation deliver on one core, beside the model's speed.

Synthetic stored clips of the config's representation (uint8 frames, or float16 flow fields for
the motion representations, as the caches hold them) go through ``TrainClips.batches`` with the
paper's full augmentation plan (10 versions), in one thread (torch and OpenCV; restored after).
No dataset, no disk and no optical flow: only what the training loop does per batch.

By default (``train.workers: 0``) the training loop prepares each batch in its main thread before the
model's step, so the pipeline's time adds to the model's rather than overlapping it (``versus_training``);
``train.workers`` overlaps them (``training/feed.py``)."""
from __future__ import annotations

import statistics
import time
from itertools import islice

import numpy as np

STORED_LENGTH = 40  # frames of a synthetic stored clip (CASME II clips have ~30-140 at 200 fps)


def synthetic_clips(data: dict, count: int, length: int = STORED_LENGTH, seed: int = 0) -> list[np.ndarray]:
    """``count`` random stored clips of ``data``'s representation, as the caches hold them: uint8
    (length, size, size, channels) frames, float16 (length, size, size, 2) flow, or float16
    (1, size, size, 2) for apex-flow."""
    from ..data.representation import representation

    rng = np.random.default_rng(seed)
    stored, size = representation(data["representation"]).stored, data["size"]
    if stored == "frames":
        return [rng.integers(0, 256, (length, size, size, data["channels"]), dtype=np.uint8) for _ in range(count)]
    frames = 1 if stored == "apex-flow" else length
    return [rng.normal(0, 1.5, (frames, size, size, 2)).astype(np.float16) for _ in range(count)]


def measure_pipeline(data: dict, batch_size: int = 16, repeats: int = 3, batches: int = 4, clips: int = 8) -> dict:
    """Median (over ``repeats``) clips/s of ``batches`` batches of ``TrainClips.batches`` in one
    thread, after one warm-up batch, for a config's ``data`` section."""
    import cv2
    import torch

    from ..data.augment import augmentation_plan
    from ..data.clips import TrainClips
    from ..data.representation import input_shape, representation

    plan = augmentation_plan()
    frames = input_shape(data)[1]
    train_set = TrainClips(synthetic_clips(data, clips), [0] * clips, frames, data["representation"], plan)
    batches = max(1, min(batches, len(train_set) // batch_size or 1))
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        for _ in islice(train_set.batches(train_set.epoch_order(generator), batch_size), 1):
            pass  # warm-up
        rates = []
        for _ in range(repeats):
            order = train_set.epoch_order(generator)
            began = time.perf_counter()
            done = sum(len(y) for _, y in islice(train_set.batches(order, batch_size), batches))
            rates.append(done / (time.perf_counter() - began))
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)
    rep = representation(data["representation"])
    return {"clips_per_s_per_core": statistics.median(rates), "representation": rep.name, "stored": rep.stored,
            "size": data["size"], "frames": frames, "channels": input_shape(data)[0],
            "augmentation_versions": len(plan), "batch_size": batch_size, "clips_timed": batches * batch_size,
            "repeats": repeats}


def versus_training(pipeline: dict, variants: dict, threads: int, training_variant: str) -> dict | None:
    """The pipeline against the training speed (train b16) of ``training_variant`` (else the fastest
    PyTorch variant measured): which limits on ``threads`` cores if the pipeline ran on all of them
    alongside the model, and what today's loop gets with the two one after the other."""
    rows = {name: r for name, r in variants.items() if name != "keras-tensorflow" and "train_b16" in r}
    if not rows:
        return None
    name = training_variant if training_variant in rows else max(rows, key=lambda n: rows[n]["train_b16"])
    train, per_core = rows[name]["train_b16"], pipeline["clips_per_s_per_core"]
    all_cores = per_core * threads
    return {"training_variant": name, "training_clips_per_s": train, "threads": threads,
            "pipeline_clips_per_s_all_cores": all_cores,
            "limits": "model" if train <= all_cores else "data pipeline",
            # one after the other in the main thread: time per clip adds (pipeline on one core)
            "serial_clips_per_s": 1 / (1 / per_core + 1 / train),
            "pipeline_share_of_step": train / (per_core + train)}


def format_pipeline(report: dict) -> list[str]:
    """The benchmark table's lines for ``report['data_pipeline']`` (none for older reports)."""
    pipe = report.get("data_pipeline")
    if not pipe:
        return []
    lines = ["", f"data pipeline alone (sampling + {pipe['augmentation_versions']} augmentation versions + "
             f"{pipe['representation']} ({pipe['channels']}, {pipe['frames']}, {pipe['size']}, {pipe['size']}), "
             f"1 thread): {pipe['clips_per_s_per_core']:.1f} clips/s per core"]
    cmp = pipe.get("versus_training")
    if cmp:
        lines += [f"  data pipeline on {cmp['threads']} cores ~ {cmp['pipeline_clips_per_s_all_cores']:.1f} clips/s "
                  f"vs training {cmp['training_clips_per_s']:.1f} clips/s ({cmp['training_variant']} train b16): "
                  f"the {cmp['limits']} limits",
                  f"  today the training loop prepares each batch in its main thread before the model's step, so "
                  f"their times add rather than overlap: ~{cmp['serial_clips_per_s']:.1f} clips/s, "
                  f"{100 * cmp['pipeline_share_of_step']:.1f}% of the time in the pipeline"]
    return lines
