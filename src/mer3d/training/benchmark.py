"""``mer3d benchmark``: training and inference speed and peak memory of a preset's network on this
machine. Each variant runs in its own process (so peak RSS and allocator settings are its own) on
random clips; speeds are medians over repeats after warm-up, and ratios compare variants measured
in the same run."""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from ..models import architecture, create_model

# Keras 3.15 / TensorFlow 2.21 fp32 on the same network and CPU (shared/notes/cpu-performance.md).
KERAS_REFERENCE = {"infer_b1": 45.1, "infer_b16": 52.7, "train_b16": 14.6}

VARIANTS = {
    "pytorch-default": {"layout": "ncdhw", "precision": "fp32", "allocator": False},
    "glibc-no-mmap": {"layout": "ncdhw", "precision": "fp32", "allocator": True},
    "channels-last-fp32": {"layout": "channels_last", "precision": "fp32", "allocator": True},
    "channels-last-bf16": {"layout": "channels_last", "precision": "bf16", "allocator": True},
}


def _median_rate(step, clips: int, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return clips / statistics.median(times)


def measure(arch: dict, layout: str, precision: str, repeats: int) -> dict:
    """Clips/s for inference at batch 1 and 16 and training at batch 16, plus peak RSS (GB)."""
    torch.manual_seed(0)
    model = create_model(**arch)
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    shape = (arch["in_channels"], arch["frames"], arch["size"], arch["size"])
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def clips(n):
        return torch.randn(n, *shape).contiguous(memory_format=fmt)

    x1, x16, y16 = clips(1), clips(16), torch.randint(0, arch["num_classes"], (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    @torch.no_grad()
    def infer(x):
        with autocast:
            model(x)

    def train_step():
        with autocast:
            logits = model(x16)
        loss = F.cross_entropy(logits.float(), y16)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.eval()
    result = {"infer_b1": _median_rate(lambda: infer(x1), 1, repeats * 2, 2),
              "infer_b16": _median_rate(lambda: infer(x16), 16, repeats, 1)}
    model.train()
    result["train_b16"] = _median_rate(train_step, 16, repeats, 2)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def _variant_env(use_allocator: bool) -> dict:
    from ..launcher import MARKER, allocator_environment
    base = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "LD_PRELOAD", MARKER)}
    env = allocator_environment(base) if use_allocator else {**base, MARKER: "default"}
    return {**env, "MER3D_NO_REEXEC": "1"}


def run_variant(arch: dict, variant: str, repeats: int, threads: int) -> dict:
    spec = VARIANTS[variant]
    code = ("import json, sys, torch; from mer3d.training.benchmark import measure; "
            f"torch.set_num_threads({threads}); "
            f"print(json.dumps(measure({arch!r}, {spec['layout']!r}, {spec['precision']!r}, {repeats})))")
    out = subprocess.run([sys.executable, "-c", code], env=_variant_env(spec["allocator"]),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def benchmark(config: dict, num_classes: int, repeats: int = 5, variants=tuple(VARIANTS), progress=print) -> dict:
    threads = config["train"]["threads"] or os.cpu_count() or 1
    arch = architecture(config, num_classes)
    results = {}
    for variant in variants:
        progress(f"benchmark: {variant} ...")
        results[variant] = run_variant(arch, variant, repeats, threads)
    report = {"architecture": arch, "threads": threads, "repeats": repeats, "cpu": _cpu_name(),
              "torch": torch.__version__, "variants": results}
    if config.get("preset", "").startswith("paper") and config["data"]["channels"] == 1:
        report["keras_reference"] = KERAS_REFERENCE
    return report


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def format_benchmark(report: dict) -> str:
    arch = report["architecture"]
    lines = [f"{arch['name']} input ({arch['in_channels']}, {arch['frames']}, {arch['size']}, {arch['size']}), "
             f"{report['threads']} threads, {report['cpu']}, torch {report['torch']}, "
             f"medians of {report['repeats']} repeats (clips/s)", "",
             f"{'variant':<22}{'infer b1':>10}{'infer b16':>11}{'train b16':>11}{'peak RSS GB':>13}"]
    rows = dict(report["variants"])
    for name, r in rows.items():
        lines.append(f"{name:<22}{r['infer_b1']:>10.1f}{r['infer_b16']:>11.1f}{r['train_b16']:>11.1f}{r['peak_rss_gb']:>13.2f}")
    ref = report.get("keras_reference")
    if ref:
        lines.append(f"{'keras-tf (notes)':<22}{ref['infer_b1']:>10.1f}{ref['infer_b16']:>11.1f}{ref['train_b16']:>11.1f}{'':>13}")
    base = rows.get("pytorch-default")
    if base:
        lines += ["", "speed-up over pytorch-default, same run:"]
        for name, r in rows.items():
            lines.append(f"  {name:<20}" + "  ".join(f"{k} x{r[k] / base[k]:.2f}" for k in ("infer_b1", "infer_b16", "train_b16")))
    if ref:
        lines += ["", "ratio to the Keras/TensorFlow reference (shared/notes, not measured in this run):"]
        for name, r in rows.items():
            lines.append(f"  {name:<20}" + "  ".join(f"{k} x{r[k] / ref[k]:.2f}" for k in ("infer_b1", "infer_b16", "train_b16")))
    return "\n".join(lines)
