"""``mer3d benchmark``: training and inference speed and peak memory of a preset's network on this
machine. Each variant runs in its own process (so peak RSS and allocator settings are its own) on
random clips; speeds are medians over repeats after warm-up, and ratios compare variants measured
in the same run. When TensorFlow is installed (the ``bench`` extra) the same network in Keras is
measured too ("keras-tensorflow", the speed target); otherwise ratios use the notes' Keras numbers.
The training data pipeline alone (sampling, augmentation, representation) is timed beside the model
(mer3d.training.pipeline_speed), so the report shows which of the two limits.

torch is imported inside the functions that need it: the Keras process reuses ``timed_rate``
from here and stays torch-free."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

RATES = ("infer_b1", "infer_b16", "train_b16")
# Keras 3.15 / TensorFlow 2.21 fp32 on the same network and CPU (shared/notes/cpu-performance.md).
KERAS_REFERENCE = {"infer_b1": 45.1, "infer_b16": 52.7, "train_b16": 14.6}
PAPER_GRAY = {"name": "vgg3d", "in_channels": 1, "frames": 16, "size": 128, "width": 1.0, "hidden": 1024}
KERAS_VARIANT = "keras-tensorflow"

VARIANTS = {
    "pytorch-default": {"layout": "ncdhw", "precision": "fp32", "allocator": False},
    "glibc-no-mmap": {"layout": "ncdhw", "precision": "fp32", "allocator": True},
    "channels-last-fp32": {"layout": "channels_last", "precision": "fp32", "allocator": True},
    "channels-last-bf16": {"layout": "channels_last", "precision": "bf16", "allocator": True},
}
# predict's --precision default; training's follows train.precision (default_training_variant).
DEFAULT_INFERENCE = "channels-last-bf16"
TARGET = 2.0    # mer3d's defaults against Keras in the same run (issue 11)


def default_training_variant(config: dict) -> str:
    """The variant the config trains with on this machine's CPU (``train.precision`` resolved)."""
    import torch

    from ..models.precision import training_precision
    return f"channels-last-{training_precision(config['train']['precision'], torch.device('cpu'))}"


def default_variants() -> tuple[str, ...]:
    """The PyTorch variants, plus Keras/TensorFlow when TensorFlow is installed."""
    return (*VARIANTS, *([KERAS_VARIANT] if importlib.util.find_spec("tensorflow") else []))


# Untimed steps before the timed ones, the same for every framework: the first training steps run
# 1.3-1.6x slower while the allocator's heap and oneDNN's kernel caches fill.
WARMUP = {"infer_b1": 5, "infer_b16": 2, "train_b16": 4}
# Timed steps per repeat asked for: batch 1 is fast, so it gets twice as many.
TIMED = {"infer_b1": 2, "infer_b16": 1, "train_b16": 1}
BATCH = {"infer_b1": 1, "infer_b16": 16, "train_b16": 16}


def timed_rate(kind: str, step, repeats: int) -> float:
    """Clips/s of ``step`` (one batch of ``kind``): the median over timed steps after WARMUP."""
    for _ in range(WARMUP[kind]):
        step()
    times = []
    for _ in range(repeats * TIMED[kind]):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return BATCH[kind] / statistics.median(times)


def measure(arch: dict, layout: str, precision: str, repeats: int) -> dict:
    """Clips/s for inference at batch 1 and 16 and training at batch 16, plus peak RSS (GB).
    bf16 runs inference on bf16 weights and trains with autocast, as mer3d's trainer does."""
    import torch
    import torch.nn.functional as F

    from ..models import create_model
    from ..models.precision import DTYPES, inference_model

    torch.manual_seed(0)
    model = create_model(**arch)
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    shape = (arch["in_channels"], arch["frames"], arch["size"], arch["size"])
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def clips(n, dtype=torch.float32):
        return torch.randn(n, *shape).to(dtype).contiguous(memory_format=fmt)

    x16, y16 = clips(16), torch.randint(0, arch["num_classes"], (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    net = inference_model(model, precision)
    inputs = {n: clips(n, DTYPES[precision]) for n in (1, 16)}

    @torch.no_grad()
    def infer(n):
        net(inputs[n])

    def train_step():
        with autocast:
            logits = model(x16)
        loss = F.cross_entropy(logits.float(), y16)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    result = {"infer_b1": timed_rate("infer_b1", lambda: infer(1), repeats),
              "infer_b16": timed_rate("infer_b16", lambda: infer(16), repeats)}
    model.train()
    result["train_b16"] = timed_rate("train_b16", train_step, repeats)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def _variant_env(use_allocator: bool, **extra: str) -> dict:
    from ..launcher import MARKER, allocator_environment
    base = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "LD_PRELOAD", MARKER)}
    env = allocator_environment(base) if use_allocator else {**base, MARKER: "default"}
    return {**env, "MER3D_NO_REEXEC": "1", **extra}


def run_variant(arch: dict, variant: str, repeats: int, threads: int) -> dict:
    if variant == KERAS_VARIANT:  # TensorFlow's own allocator and defaults, its log spam silenced
        code = ("import json; from mer3d.training.keras_reference import measure_keras; "
                f"print(json.dumps(measure_keras({arch!r}, {repeats}, {threads})))")
        env = _variant_env(False, TF_CPP_MIN_LOG_LEVEL="2")
    else:
        spec = VARIANTS[variant]
        code = ("import json, sys, torch; from mer3d.training.benchmark import measure; "
                f"torch.set_num_threads({threads}); "
                f"print(json.dumps(measure({arch!r}, {spec['layout']!r}, {spec['precision']!r}, {repeats})))")
        env = _variant_env(spec["allocator"])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"benchmark variant {variant} failed:\n{out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def benchmark(config: dict, num_classes: int, repeats: int = 5, variants=None, progress=print,
              pipeline: bool = True) -> dict:
    """Run each variant (default: ``default_variants()``) in its own process. ``keras_reference``
    holds the Keras numbers the ratios use: this run's when measured (``keras_measured``), else the
    notes' when the network is the paper's gray one they were measured on. With ``pipeline``,
    ``data_pipeline`` holds the training data pipeline's own speed (mer3d.training.pipeline_speed)."""
    import torch

    from ..data.representation import input_shape
    from ..models import architecture

    threads = config["train"]["threads"] or os.cpu_count() or 1
    arch = architecture(config, num_classes, input_shape(config["data"]))
    results = {}
    for variant in variants or default_variants():
        progress(f"benchmark: {variant} ...")
        try:
            results[variant] = run_variant(arch, variant, repeats, threads)
        except RuntimeError as exc:
            if variant != KERAS_VARIANT:
                raise
            progress(f"benchmark: {exc}\nbenchmark: going on without the Keras measurement")
    defaults = {"training": default_training_variant(config), "inference": DEFAULT_INFERENCE}
    report = {"architecture": arch, "threads": threads, "repeats": repeats, "cpu": _cpu_name(),
              "torch": torch.__version__, "variants": results, "defaults": defaults,
              "keras_measured": KERAS_VARIANT in results}
    if report["keras_measured"]:
        report["keras_reference"] = {k: results[KERAS_VARIANT][k] for k in RATES}
        report["tensorflow"], report["keras"] = _version("tensorflow"), _version("keras")
        report["ratios"] = default_ratios(results, defaults)
    elif all(arch[k] == v for k, v in PAPER_GRAY.items()):  # the notes measured only this network
        report["keras_reference"] = KERAS_REFERENCE
    if pipeline:
        from .pipeline_speed import measure_pipeline, versus_training
        progress("benchmark: data pipeline (sampling, augmentation, representation; 1 thread) ...")
        pipe = measure_pipeline(config["data"], config["train"]["batch_size"], repeats)
        pipe["versus_training"] = versus_training(pipe, results, threads, defaults["training"])
        report["data_pipeline"] = pipe
    return report


def default_ratios(results: dict, defaults: dict) -> dict | None:
    """mer3d's defaults (training at batch 16, inference at batch 1 and 16) over Keras in the same
    run; None where a default variant was not measured."""
    if not all(defaults[k] in results for k in ("training", "inference")):
        return None
    keras = results[KERAS_VARIANT]
    return {k: results[defaults["training" if k == "train_b16" else "inference"]][k] / keras[k] for k in RATES}


def _version(module: str) -> str:
    """Installed version of the distribution providing ``module`` (e.g. tensorflow-cpu), unimported."""
    dists = importlib.metadata.packages_distributions().get(module) or [module]
    try:
        return importlib.metadata.version(dists[0])
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _ratio_lines(title: str, rows: dict, base: dict) -> list[str]:
    return ["", title] + [f"  {name:<20}" + "  ".join(f"{k} x{r[k] / base[k]:.2f}" for k in RATES)
                          for name, r in rows.items()]


def format_benchmark(report: dict) -> str:
    arch = report["architecture"]
    frameworks = f"torch {report['torch']}" + (f", tensorflow {report['tensorflow']}, keras {report['keras']}"
                                               if "tensorflow" in report else "")
    lines = [f"{arch['name']} input ({arch['in_channels']}, {arch['frames']}, {arch['size']}, {arch['size']}), "
             f"{report['threads']} threads, {report['cpu']}, {frameworks}, "
             f"medians of {report['repeats']} repeats (clips/s)", "",
             f"{'variant':<22}{'infer b1':>10}{'infer b16':>11}{'train b16':>11}{'peak RSS GB':>13}"]
    rows = dict(report["variants"])
    for name, r in rows.items():
        lines.append(f"{name:<22}{r['infer_b1']:>10.1f}{r['infer_b16']:>11.1f}{r['train_b16']:>11.1f}{r['peak_rss_gb']:>13.2f}")
    ref, measured = report.get("keras_reference"), report.get("keras_measured", False)
    if ref and not measured:
        lines.append(f"{'keras-tf (notes)':<22}{ref['infer_b1']:>10.1f}{ref['infer_b16']:>11.1f}{ref['train_b16']:>11.1f}"
                     f"{'':>13}  <- from shared/notes, not measured in this run")
    if "pytorch-default" in rows:
        lines += _ratio_lines("speed-up over pytorch-default, same run:", rows, rows["pytorch-default"])
    if ref:
        torch_rows = {name: r for name, r in rows.items() if name != KERAS_VARIANT}
        source = "measured in this run" if measured else "from shared/notes, NOT measured in this run"
        lines += _ratio_lines(f"ratio to Keras/TensorFlow ({source}):", torch_rows, ref)
    if report.get("ratios"):
        ratios = report["ratios"]
        lines.append(f"  mer3d's defaults / Keras: " + "  ".join(f"{k} x{ratios[k]:.2f}" for k in RATES)
                     + f"  (target x{TARGET:g}: {'met' if min(ratios.values()) >= TARGET else 'not met'})")
    from .pipeline_speed import format_pipeline
    lines += format_pipeline(report)
    defaults = report.get("defaults", {"training": "?", "inference": DEFAULT_INFERENCE})
    lines.append(f"\nmer3d's defaults: training = {defaults['training']}, predict = {defaults['inference']}")
    return "\n".join(lines)
