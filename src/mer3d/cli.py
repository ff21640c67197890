"""The ``mer3d`` command: a thin layer over the Python API (mer3d.api)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback

from . import api
from .errors import UserError


DEBUG = argparse.ArgumentParser(add_help=False)
DEBUG.add_argument("--debug", action="store_true",
                   help="print the traceback of an internal error (also MER3D_DEBUG=1)")


def _add_config_options(p: argparse.ArgumentParser, default_preset: str | None) -> None:
    p.add_argument("--preset", default=default_preset, help="named setting, e.g. paper-casme2")
    p.add_argument("--config", help="YAML file overriding the preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set train.epochs=50 (repeatable)")


def _add_executor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local (default): the folds one after another in this process; ray: every fold a task on "
                        "a Ray cluster, with the same results (pip install 'mer3d[distributed]'; needs train.threads)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --executor ray: the running cluster to use ('auto' after 'ray start --head', host:port "
                        "or ray://host:port); default: a cluster of this machine's cores, started for the command")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mer3d", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("model", parents=[DEBUG], help="print the network's layer table")
    _add_config_options(p, "paper-casme2")

    p = sub.add_parser("datasets", help="dataset tools")
    dsub = p.add_subparsers(dest="action", required=True)
    p = dsub.add_parser("inspect", parents=[DEBUG], help="clips per class and subject, and every sheet/folder problem")
    p.add_argument("--dataset", required=True, choices=["casme2", "casme", "samm", "smic", "casme3", "csv", "megc2019"])
    p.add_argument("--root", help="dataset folder (megc2019: the folder holding casme2/, samm/ and smic/)")
    p.add_argument("--annotations", help="coding sheet or manifest (megc2019: clip list; default the official one)")
    p.add_argument("--roots", action="append", default=[], metavar="PART=DIR",
                   help="megc2019: a part kept elsewhere, e.g. --roots samm=/data/SAMM (repeatable)")
    p.add_argument("--parts", help="megc2019: the parts to use, comma-separated (default casme2,samm,smic)")
    p.add_argument("--genders", help="CSV with columns subject,gender (for datasets whose annotation has none)")
    p.add_argument("--labels", choices=["emotion", "objective", "3class", "4class"], default="emotion",
                   help="samm: Estimated Emotion (default) or Objective Classes I..VII; casme3: emotion (7 classes, "
                        "default), 3class (negative/positive/surprise) or 4class (and others)")
    p.add_argument("--modality", choices=["hs", "vis", "nir"], default="hs",
                   help="smic: the HS (100 fps, default), VIS or NIR (25 fps) recordings")
    p.add_argument("--allow-outside-root", action="store_true",
                   help="csv: read manifest paths outside --root (dataset.allow_outside_root)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("train", parents=[DEBUG], help="train and evaluate with a subject-independent protocol")
    _add_config_options(p, None)
    p.add_argument("--root", help="dataset folder (sets dataset.root)")
    p.add_argument("--annotations", help="coding sheet or manifest (sets dataset.annotations)")
    p.add_argument("--genders", help="CSV with columns subject,gender, for geme (sets dataset.genders)")
    p.add_argument("--out", help="new run folder")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run")
    p.add_argument("--folds", metavar="NAME[,NAME...]",
                   help="train only these folds (sub01, fold1, ...; 'final' for the final model): one shard of a "
                        "run; the report is written once every fold has its result (else 'mer3d report RUN')")
    _add_executor_options(p)

    p = sub.add_parser("report", parents=[DEBUG], help="write a run's report from its fold results (after sharded --folds)")
    p.add_argument("run")

    p = sub.add_parser("evaluate", parents=[DEBUG], help="recompute a run's report from its saved predictions")
    p.add_argument("run")
    p.add_argument("--deployed", action="store_true",
                   help="also score the test clips as predict would (window's first frame as reference, no annotated onset)")

    p = sub.add_parser("predict", parents=[DEBUG], help="recognize micro-expressions in a video, frames folder or camera")
    p.add_argument("input", help="video file (mp4, avi, mov, mkv, webm), frames folder, or camera index")
    p.add_argument("--weights", required=True, help="run folder (uses RUN/model.safetensors) or .safetensors/.onnx file")
    p.add_argument("--stride", type=int, default=8, help="input frames between window starts (default 8)")
    p.add_argument("--duration", help="seconds one window spans; 'window' (default: the span of one training window, "
                        "so motion is seen at its training speed) or 'typical' (the training clips' typical "
                        "onset-offset duration; the default for apex-flow models)")
    p.add_argument("--fps", type=float, help="frame rate of the input (folders have none; default 30)")
    p.add_argument("--out", help="results.json or results.csv")
    p.add_argument("--render", help="annotated.mp4 with the face box and class-probability bars")
    p.add_argument("--face-crop", choices=["on", "off"], default="on",
                   help="off for frames that are already face crops (CASME II's Cropped/)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16", help="torch backend only")

    p = sub.add_parser("export", parents=[DEBUG], help="export weights to ONNX or TorchScript")
    p.add_argument("run", help="run folder or .safetensors file")
    p.add_argument("--format", choices=["onnx", "torchscript"], required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("benchmark", parents=[DEBUG], help="training/inference clips/s and peak memory on this machine")
    _add_config_options(p, "paper-casme2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-predict", action="store_true", help="skip the end-to-end predict throughput")
    p.add_argument("--flow", action="store_true",
                   help="measure optical flow instead (per method and size, and a CASME II-sized flow cache)")
    p.add_argument("--flow-clips", type=int, default=8, help="clips per flow measurement (default 8)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("compare", parents=[DEBUG], help="run several models/settings with the same protocol and seeds")
    p.add_argument("--config", required=True, help="comparison YAML, or a shipped one: paper-casme2, paper-casme, demo")
    p.add_argument("--root", help="dataset folder (sets dataset.root for every cell)")
    p.add_argument("--out", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    _add_executor_options(p)

    p = sub.add_parser("demo", parents=[DEBUG], help="generate the demo dataset, train on it with LOSO, report")
    p.add_argument("--dataset", choices=["casme2", "megc2019"], default="casme2",
                   help="casme2 (CASME II layout, default) or megc2019 (the composite: casme2/, samm/, smic/)")
    p.add_argument("--out", help="default runs/demo (runs/demo-megc2019 for --dataset megc2019)")
    p.add_argument("--compare", action="store_true", help="also run the small demo comparison")
    return parser


def _train(args) -> dict | None:
    folds = _fold_names(args.folds)
    if args.resume:
        if args.out or args.root or args.annotations or args.genders or args.overrides or args.config:
            raise UserError("--resume takes no other options but --folds, --executor and --ray-address: the run's "
                            "own config.yaml is used")
        return api.resume(args.resume, folds=folds, executor=args.executor, ray_address=args.ray_address)
    if not args.out:
        raise UserError("train needs --out RUN_DIR (or --resume RUN_DIR)")
    overrides = list(args.overrides)
    overrides += [f"dataset.root={args.root}"] if args.root else []
    overrides += [f"dataset.annotations={args.annotations}"] if args.annotations else []
    overrides += [f"dataset.genders={args.genders}"] if args.genders else []
    config = api.load_config(args.preset, args.config, overrides)
    return api.train(config, args.out, folds=folds, executor=args.executor, ray_address=args.ray_address)


def _fold_names(text: str | None) -> list[str] | None:
    """``--folds sub01,sub02`` as a list of names (checked against the run's protocol by train)."""
    if text is None:
        return None
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise UserError(f"--folds {text!r}: name at least one fold, e.g. --folds fold1,fold2 (or final)")
    return names


def _part_folders(items: list[str]) -> dict[str, str] | None:
    """``--roots samm=/data/SAMM`` options as a mapping."""
    if not items:
        return None
    bad = [item for item in items if "=" not in item]
    if bad:
        raise UserError(f"--roots {bad[0]!r}: expected PART=DIR, e.g. samm=/data/SAMM")
    return dict(item.split("=", 1) for item in items)


def _print_window(w) -> None:
    what = f"{w.label} ({w.probabilities[w.label]:.2f})" if w.label else "no face"
    print(f"{w.start_s:8.3f}-{w.end_s:8.3f} s  frames {w.start_frame}-{w.end_frame}  {what}", flush=True)


def _predict(args) -> None:
    from .inference.recognizer import check_seconds

    duration = args.duration if args.duration in (None, "typical", "window") else check_seconds(args.duration, "--duration")
    _check_predict_options(args)
    recognizer = api.Recognizer.from_pretrained(args.weights, backend=args.backend, precision=args.precision)
    result = recognizer.predict_video(args.input, stride=args.stride, duration_s=duration, fps=args.fps,
                                      on_window=_print_window, face_crop=args.face_crop == "on")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.out:
        print(f"results: {result.save(args.out)}")
    if args.render:
        print(f"rendered: {api.render(result, args.render, fps=args.fps)}")


def _check_predict_options(args) -> None:
    """Refuse, before the weights are loaded and the video read, options that would fail (or
    overwrite the input or the weights) only at the end."""
    from pathlib import Path

    from .atomic import check_writable
    from .inference.recognizer import check_results_path, check_stride
    from .training.run_dir import resolve_weights

    check_stride(args.stride, "--stride")
    if args.fps is not None and not 0 < args.fps < float("inf"):
        raise UserError(f"--fps {args.fps}: must be a finite positive number of frames per second")
    if args.out:
        check_results_path(args.out, "--out")
    if args.render:
        if Path(args.render).suffix.lower() != ".mp4":
            raise UserError(f"--render {args.render}: the rendered video is an MP4 file; give it the .mp4 extension")
        if args.input.isascii() and args.input.isdigit():
            raise UserError("--render needs a video file or frames folder, not a camera")
        check_writable(args.render, "--render")
    weights = Path(args.weights)
    if weights.is_dir():
        weights = resolve_weights(weights)      # the same error as loading it would give, only sooner
    kept = {Path(args.input).resolve(): "the input", weights.resolve(): "the weights",
            weights.with_suffix(".json").resolve(): "the weights' sidecar"}
    for option, target in (("--out", args.out), ("--render", args.render)):
        if target and Path(target).resolve() in kept:
            raise UserError(f"{option} {target}: would overwrite {kept[Path(target).resolve()]}")


def run_command(args) -> int:
    if args.command == "model":
        print(api.layer_table(api.load_config(args.preset, args.config, args.overrides)))
    elif args.command == "datasets":
        if not args.root and not args.roots:
            raise UserError("datasets inspect needs --root DIR")
        report = api.inspect_dataset(args.dataset, args.root, args.annotations, args.genders, args.labels,
                                     args.modality, roots=_part_folders(args.roots),
                                     parts=args.parts.split(",") if args.parts else None,
                                     allow_outside_root=args.allow_outside_root)
        print(json.dumps(report, indent=2) if args.json else api.format_inspection(report))
    elif args.command == "train":
        metrics = _train(args)
        print(api.metrics_table(metrics) if metrics is not None else
              f"no report yet: other folds of the run remain (listed above); once every fold has its result, "
              f"'mer3d report {args.resume or args.out}' writes it")
    elif args.command == "report":
        print(api.metrics_table(api.report(args.run)))
    elif args.command == "evaluate":
        print(api.metrics_table(api.evaluate(args.run)))
        if args.deployed:
            print(f"\n{api.format_deployed(api.deployed_evaluation(args.run))}")
    elif args.command == "predict":
        _predict(args)
    elif args.command == "export":
        print(f"exported: {api.export(args.run, args.format, args.out)}")
    elif args.command == "benchmark" and args.flow:
        report = api.flow_benchmark(args.flow_clips, progress=lambda m: print(m, file=sys.stderr))
        print(json.dumps(report, indent=2) if args.json else api.format_flow_benchmark(report))
    elif args.command == "benchmark":
        report = api.benchmark(api.load_config(args.preset, args.config, args.overrides), args.repeats,
                               predict=not args.no_predict, progress=lambda m: print(m, file=sys.stderr))
        print(json.dumps(report, indent=2) if args.json else api.format_benchmark(report))
    elif args.command == "compare":
        overrides = args.overrides + ([f"dataset.root={args.root}"] if args.root else [])
        print(api.compare(args.config, args.out, overrides, executor=args.executor, ray_address=args.ray_address))
    elif args.command == "demo":
        out = args.out or ("runs/demo" if args.dataset == "casme2" else f"runs/demo-{args.dataset}")
        metrics, run = api.demo(out, args.dataset)
        print(api.metrics_table(metrics))
        print(f"\nreport: {run / 'report.md'} (plots and predictions beside it)")
        if args.compare:
            print(api.demo_compare(out, args.dataset))
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        from .launcher import reexec_with_allocator
        argv = sys.argv[1:]
        reexec_with_allocator(argv)
    logging.basicConfig(level=logging.INFO, format="mer3d: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return run_command(args)
    except UserError as exc:
        print(f"mer3d: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mer3d: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:   # a bug, not the user's doing: a summary, the traceback on request
        if getattr(args, "debug", False) or os.environ.get("MER3D_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        print(f"mer3d: internal error: {type(exc).__name__}: {one_line(exc)} (a bug in mer3d; --debug or "
              f"MER3D_DEBUG=1 prints the traceback)", file=sys.stderr)
        return 1


def one_line(error: BaseException) -> str:
    """An error's message on one line."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
