"""``mer3d evaluate RUN --deployed``: the run's test clips scored the way ``predict`` scores a video,
to measure what the evaluation's annotations are worth.

A run's own evaluation knows each test clip's onset: ``diff`` subtracts it and onset-referenced flow
is computed against it, and the test window sits on the annotated apex. A deployed system knows
neither: ``Recognizer`` takes the window's first frame as the reference (flow computed from the
window's own frames) and, for ``apex-flow``, estimates the apex inside the window. Here every test
clip goes through ``Recognizer.network_input`` with its fold's weights (fp32), on the same windows as
the evaluation, so the difference to ``predictions.csv`` is the reference frame (and the apex for
apex-flow) alone. Nothing is trained and nothing of the run is changed; the result goes to
``RUN/deployed.json``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import softmax

from ..data.datasets import configured_dataset
from ..data.inputs import motion_cache, resolve_apexes, source_frames
from ..data.representation import representation
from ..data.sampling import eval_window_starts, fit_length, take_window
from ..errors import UserError
from ..inference.backends import TorchBackend
from ..inference.recognizer import Recognizer
from .metrics import classification_report
from .run_dir import RunDir, read_csv

KEYS = ("accuracy", "uf1", "uar")


def deployed_evaluation(run_path: str | Path) -> dict:
    """Accuracy, UF1 and UAR of the deployed path next to the run's own, and how often they agree."""
    run = RunDir(Path(run_path))
    config = run.read_config()
    if config["model"]["name"] == "lbptop-svm":
        raise UserError(f"{run.path}: an LBP-TOP + SVM run has no network weights for predict's path")
    rows = read_csv(run.predictions)
    data = config["data"]
    dataset = configured_dataset(config)
    records = {(c.subject, c.name): c for c in dataset.clips}
    missing = [(r["subject"], r["clip"]) for r in rows if (r["subject"], r["clip"]) not in records]
    if missing:
        raise UserError(f"{run.predictions}: clip {missing[0][0]}/{missing[0][1]} is no longer in the dataset")
    clips = [records[(r["subject"], r["clip"])] for r in rows]
    motion = motion_cache(data)
    cache = source_frames(data, motion)
    frames = [cache.load(record) for record in clips]
    apexes, _ = resolve_apexes(clips, [len(f) for f in frames], data.get("apex", "annotated"), motion, progress=False)
    recognizers: dict[str, Recognizer] = {}
    predicted = []
    for row, record, clip, apex in zip(rows, clips, frames, apexes):
        if row["fold"] not in recognizers:
            recognizers[row["fold"]] = Recognizer(TorchBackend(run.weights(row["fold"]), precision="fp32"))
        predicted.append(_scores(recognizers[row["fold"]], clip, apex, data["eval_windows"], record.fps or dataset.fps))
    classes = [c[2:] for c in rows[0] if c.startswith("p_")]
    truth = [classes.index(r["true"]) for r in rows]
    own = classification_report(truth, [classes.index(r["predicted"]) for r in rows], classes)
    deployed = classification_report(truth, [int(p.argmax()) for p in predicted], classes)
    report = {"clips": len(rows), "representation": data["representation"],
              "run": {k: own[k] for k in KEYS}, "deployed": {k: deployed[k] for k in KEYS},
              "same_prediction": float(np.mean([int(p.argmax()) == classes.index(r["predicted"])
                                                for p, r in zip(predicted, rows)])),
              "reference": "the window's first frame (the run: the clip's onset)",
              "apex": ("estimated inside the clip" if representation(data["representation"]).stored == "apex-flow"
                       else "as the run's")}
    run.write_json(run.path / "deployed.json", report)
    return report


def _scores(recognizer: Recognizer, clip: np.ndarray, apex: int, windows: int, fps: float) -> np.ndarray:
    """Class probabilities of one preprocessed clip, averaged over the evaluation's windows."""
    if recognizer.representation.stored == "apex-flow":
        inputs = [recognizer.network_input(clip, fps)]
    else:
        clip = fit_length(clip, recognizer.frames)
        starts = eval_window_starts(len(clip), recognizer.frames, apex, windows)
        inputs = [recognizer.network_input(take_window(clip, s, recognizer.frames), fps) for s in starts]
    logits = recognizer.backend.predict_logits(np.stack([x.numpy() for x in inputs]).astype(np.float32))
    return softmax(logits, axis=1).mean(0)


def format_deployed(report: dict) -> str:
    run, deployed = report["run"], report["deployed"]
    return "\n".join([
        f"{report['clips']} test clips ({report['representation']}), each fold's weights in fp32",
        f"{'':<34}{'accuracy':>9}{'UF1':>8}{'UAR':>8}",
        f"{'the run (onset reference)':<34}{run['accuracy']:>9.4f}{run['uf1']:>8.4f}{run['uar']:>8.4f}",
        f"{'deployed (window reference)':<34}{deployed['accuracy']:>9.4f}{deployed['uf1']:>8.4f}"
        f"{deployed['uar']:>8.4f}",
        f"same predicted class: {100 * report['same_prediction']:.1f} % of clips"])
