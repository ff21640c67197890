"""The Python API behind the ``mer3d`` command, for scripts and notebooks.

    from mer3d import api
    config = api.load_config("paper-casme2", overrides=["dataset.root=/data/CASME2", "train.epochs=50"])
    metrics = api.train(config, "runs/casme2")
"""
from __future__ import annotations

from pathlib import Path

from .config import load_config
from .inference.recognizer import Recognizer
from .data import casme2, inspect_dataset, load_dataset
from .data.datasets import format_inspection, standard_classes
from .data.representation import input_shape
from .errors import UserError
from .models import architecture, create_model, format_layer_table, layer_rows
from .reports.tables import metrics_table
from .training.benchmark import benchmark as run_benchmark
from .training.benchmark import format_benchmark as format_network_benchmark
from .training.report import evaluate
from .training.distributed import executor_runs
from .training.run_dir import check_new_folder
from .training.trainer import report as write_run_report

__all__ = ["Recognizer", "export", "render", "compare", "demo_compare", "load_config", "load_dataset", "inspect_dataset", "format_inspection", "create_model",
           "layer_table", "benchmark", "format_benchmark", "flow_benchmark", "format_flow_benchmark", "deployed_evaluation", "format_deployed", "train", "resume", "report", "evaluate", "metrics_table", "demo"]


def layer_table(config: dict) -> str:
    """The network of ``config`` as a Keras-style table of output shapes and parameter counts."""
    shape = input_shape(config["data"])
    arch = architecture(config, num_classes(config), shape)
    model = create_model(**arch)
    title = (f"{arch['name']} ({config.get('preset') or 'custom'}): input (N, {', '.join(map(str, shape))}) "
             f"of {config['data']['representation']}, {arch['num_classes']} classes")
    return format_layer_table(layer_rows(model, shape), title)


def train(config: dict, out: str | Path, folds: list[str] | None = None, executor: str = "local",
          ray_address: str | None = None) -> dict | None:
    """Start a new run in ``out`` and return its metrics (with ``folds``, train only those; None
    while other folds remain). ``executor="ray"`` trains every fold as a task on the Ray cluster at
    ``ray_address`` ("auto", "host:port", "ray://host:port"; None: one started on this machine for
    the call), with the same results (see mer3d.training.distributed)."""
    with executor_runs(executor, ray_address) as runs:
        runs.train(config, out, folds)
        return runs.finish()[0]


def resume(run: str | Path, folds: list[str] | None = None, executor: str = "local",
           ray_address: str | None = None) -> dict | None:
    """Continue an interrupted run from its checkpoints (finished folds are kept), as :func:`train`."""
    with executor_runs(executor, ray_address) as runs:
        runs.resume(run, folds)
        return runs.finish()[0]


def report(run: str | Path) -> dict:
    """Write a run's report (metrics.json, predictions.csv, report.md, plots) from its fold results,
    exactly as a run trained in one go writes it, and return its metrics: for runs trained in shards
    (``train(config, out, folds=[...])``, ``resume(run, folds=[...])``). A UserError names the
    folds that have no result yet."""
    return write_run_report(run)


def num_classes(config: dict) -> int:
    dataset = config["dataset"]
    if dataset["classes"]:
        return len(dataset["classes"])
    return len(standard_classes(dataset["name"], dataset.get("labels", "emotion")) or casme2.CLASSES)


def benchmark(config: dict, repeats: int = 5, predict: bool = True, progress=print) -> dict:
    """Clips/s and peak memory of the config's network per speed variant (mer3d.training.benchmark),
    and, with ``predict``, end-to-end predict throughput on a 30 fps 640x480 recording
    (mer3d.inference.throughput)."""
    report = run_benchmark(config, num_classes(config), repeats, progress=progress)
    if predict:
        from .inference.throughput import predict_throughput
        progress("benchmark: end-to-end predict (torch, onnxruntime) ...")
        report["predict"] = predict_throughput(architecture(config, num_classes(config), input_shape(config["data"])))
    return report


def flow_benchmark(clips: int = 8, progress=print) -> dict:
    """Optical flow time per method and size, and a CASME II-sized flow cache's projected time, disk
    and memory (mer3d.data.flow_speed)."""
    from .data.flow_speed import flow_benchmark as run_flow_benchmark
    if clips < 1:
        raise UserError(f"--flow-clips must be at least 1, not {clips}")
    return run_flow_benchmark(clips=clips, progress=progress)


def format_flow_benchmark(report: dict) -> str:
    from .data.flow_speed import format_flow_benchmark as format_report
    return format_report(report)


def deployed_evaluation(run: str | Path) -> dict:
    """A run's test clips scored as ``predict`` scores video (mer3d.training.deployed)."""
    from .training.deployed import deployed_evaluation as evaluate_deployed
    return evaluate_deployed(run)


def format_deployed(report: dict) -> str:
    from .training.deployed import format_deployed as format_report
    return format_report(report)


def format_benchmark(report: dict) -> str:
    from .inference.throughput import format_throughput
    text = format_network_benchmark(report)
    return text + ("\n\n" + format_throughput(report["predict"]) if "predict" in report else "")


def export(weights: str | Path, fmt: str, out: str | Path) -> Path:
    """Write ONNX or TorchScript (plus the JSON sidecar) for a run folder or weights file."""
    from .models.export import export_model
    from .training.run_dir import resolve_weights
    return export_model(resolve_weights(weights), fmt, out)


def render(result, out: str | Path, fps: float | None = None) -> Path:
    """Re-read ``result.input`` and write an mp4 with the face box and class-probability bars."""
    from .inference.render import render_predictions
    from .inference.video import open_source

    if str(result.input).isdigit():
        raise UserError("--render needs a video file or frames folder, not a camera")
    with open_source(result.input, fps=fps) as src:
        render_predictions(src.frames(), src.fps, out, result.to_dict()["windows"], result.classes)
    return Path(out)


def compare(spec: str | Path, out: str | Path, overrides: list[str] = (), executor: str = "local",
            ray_address: str | None = None) -> str:
    """Run a comparison file (see mer3d.training.compare) and return its Markdown table; with
    ``executor="ray"`` every fold of every cell and seed is a Ray task (as for :func:`train`)."""
    from .training.compare import compare as run_compare
    run_compare(spec, out, list(overrides), executor, ray_address)
    return (Path(out) / "comparison.md").read_text()


DEMOS = {"casme2": ("demo", "demo"), "megc2019": ("demo+megc2019", "megc2019-demo")}   # preset, comparison


def demo_compare(out: str | Path = "runs/demo", dataset: str = "casme2") -> str:
    """The shipped demo comparison of ``dataset`` on the demo data under ``out/data``, into ``out/compare``."""
    out = Path(out)
    return compare(_demo_kind(dataset)[1], out / "compare",
                   [f"dataset.root={out / 'data'}", f"data.cache_dir={out / 'cache'}"])


def demo(out: str | Path = "runs/demo", dataset: str = "casme2") -> tuple[dict, Path]:
    """Generate a built-in synthetic dataset under ``out/data`` (``casme2``: CASME II layout;
    ``megc2019``: the composite's three parts in their layouts and its clip list), train the demo
    preset on it with leave-one-subject-out into ``out/run`` (resuming an interrupted demo), and
    return the metrics."""
    from .data.demo import generate_composite_demo, generate_demo

    preset = _demo_kind(dataset)[0]
    out = Path(out)
    check_new_folder(out, "--out")
    root = (generate_composite_demo if dataset == "megc2019" else generate_demo)(out / "data")
    config = load_config(preset, overrides=[f"dataset.root={root}", f"data.cache_dir={out / 'cache'}"])
    run = out / "run"
    if (run / "config.yaml").is_file():
        from .training.run_dir import RunDir
        if RunDir(run).read_config() != config:
            raise UserError(f"{run}: holds a demo run with other settings; remove it or pass another --out")
        return resume(run), run
    return train(config, run), run


def _demo_kind(dataset: str) -> tuple[str, str]:
    if dataset not in DEMOS:
        raise UserError(f"no demo of dataset '{dataset}' (demos: {', '.join(DEMOS)})")
    return DEMOS[dataset]
