"""Training and honest evaluation of a run: every fold trains from scratch on its training
subjects for a fixed number of epochs and is tested once on its held-out subjects; nothing about a
test subject (clip, epoch choice, threshold) ever feeds back into training."""
from __future__ import annotations

import logging
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.datasets import configured_dataset
from ..data.augment import augmentation_plan
from ..data.clips import EvalClips, TrainClips, batch_bounds
from ..data.sampling import clip_duration_s
from ..data.inputs import prepare_inputs
from ..data.records import Dataset
from ..data.representation import input_shape
from ..data.representation import representation as registered_representation
from ..errors import UserError
from ..models import architecture, create_model, model_needs_gender
from ..models.precision import inference_model, network_input, training_precision
from ..models.weights import save_weights
from .checkpoint import previous_checkpoint, resume_checkpoint, save_checkpoint
from .classical import MODEL_NAME as CLASSICAL
from .classical import lbptop_features, train_classical_fold
from .compiled import training_module
from .feed import TrainingFeed
from .folds import has_final_model, missing_folds, protocol_folds, select_folds
from .optim import make_optimizer, make_scheduler
from .prepared import PreparedData
from .protocols import Fold
from .report import write_report
from .scalars import EpochScalars
from .run_dir import FINAL_FOLD, RunDir, check_new_folder, environment

log = logging.getLogger("mer3d")


class MissingLabels(UserError):
    """The model needs labels the dataset does not give (a comparison skips such a cell)."""


def check_model(config: dict, dataset: Dataset) -> None:
    """Fail before any training if the model cannot be built (e.g. a wrong model.options entry)
    or needs labels that the dataset lacks."""
    name, representation = config["model"]["name"], config["data"]["representation"]
    if name == CLASSICAL:
        if registered_representation(representation).motion:
            raise UserError(f"model {CLASSICAL} computes LBP-TOP from frames: use data.representation=gray, "
                            f"not {representation}")
        return
    shape = input_shape(config["data"])
    try:
        model = create_model(**architecture(config, len(dataset.classes), shape)).eval()
        with torch.no_grad():
            model(torch.zeros(2, *shape))
    except (RuntimeError, ValueError, UserError) as error:
        raise UserError(f"model {name} cannot take data.representation={representation} (input {shape}): "
                        f"{str(error).splitlines()[0]}") from None
    if not model_needs_gender(name):
        return
    unknown = sorted({c.subject for c in dataset.clips if c.gender is None})
    if unknown:
        raise MissingLabels(f"model {name} learns each subject's gender beside the emotion, but {len(unknown)} of "
                            f"{len(dataset.subjects)} subjects have none (first: {unknown[0]}); add a 'gender' "
                            f"column (female/male) to the manifest, or give a CSV with columns subject,gender "
                            f"(--genders FILE, i.e. dataset.genders)")


def prepare_data(config: dict, folds: list[str] | None = None) -> PreparedData:
    """The dataset read, checked and prepared; ``folds`` (``--folds`` names) are checked against the
    protocol's folds of the dataset's subjects before any clip is prepared."""
    data_cfg = config["data"]
    dataset = configured_dataset(config)
    for problem in dataset.problems:
        log.warning("%s", problem)
    if len(dataset.clips) < 2:
        raise UserError(f"{dataset.root}: fewer than 2 usable clips of classes {dataset.classes}")
    if folds is not None:    # preparing clips only drops subjects, so a name unknown here stays unknown
        select_folds(folds, protocol_folds(config, [c.subject for c in dataset.clips], dataset.parts()), config)
    check_model(config, dataset)
    inputs = prepare_inputs(dataset.clips, data_cfg, progress=True)
    for problem in inputs.skipped:
        log.warning("%s", problem)
    dataset.clips, dataset.problems = inputs.records, dataset.problems + inputs.skipped
    if len(dataset.clips) < 2:
        raise UserError(f"{dataset.root}: fewer than 2 clips could be prepared (see the warnings above)")
    sources = inputs.apex_sources if windows_use_apex(config) else ["none"] * len(dataset.clips)
    return PreparedData(dataset, inputs.arrays, dataset.labels(), inputs.apex, dataset.genders(), sources)


def windows_use_apex(config: dict) -> bool:
    """Whether a test clip's prediction depends on its apex: one window centred on it, or the
    onset-to-apex flow; not with several spread windows, nor for LBP-TOP of the whole clip."""
    if config["model"]["name"] == CLASSICAL:
        return False
    stored = registered_representation(config["data"]["representation"]).stored
    return stored == "apex-flow" or config["data"]["eval_windows"] == 1


def derived_seed(*parts: int) -> int:
    """A stable seed for (run seed, fold, epoch ...), independent of Python's hash salt."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


class TrainingDiverged(UserError):
    """The loss is NaN or infinite: continuing would only produce a meaningless model."""


def device_of(train_cfg: dict) -> torch.device:
    name = train_cfg["device"]
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device=cuda but PyTorch sees no CUDA device")
    return torch.device(name)


def training_loss(model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, emotion logits, emotion targets). Targets ``(B, 2)`` are (emotion, gender) of a
    multitask model: the loss is the sum of both cross-entropies, as in GEME."""
    if y.ndim == 2:
        emotion, gender = model.forward_multitask(x)
        return F.cross_entropy(emotion.float(), y[:, 0]) + F.cross_entropy(gender.float(), y[:, 1]), emotion, y[:, 0]
    logits = model(x)
    return F.cross_entropy(logits.float(), y), logits, y


def forward_loss(model, x: torch.Tensor, y: torch.Tensor, device: torch.device, bf16: bool):
    """``training_loss`` of one batch on ``device``, under bf16 autocast when ``bf16``."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        return training_loss(model, network_input(x, device, "fp32"), y.to(device))


def optimizer_step(loss: torch.Tensor, optimizer, scheduler) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()


def train_epoch(model, batches, optimizer, scheduler, device: torch.device, precision: str,
                progress) -> tuple[float, float]:
    """One pass over the amplified training set; bf16 training uses autocast (fp32 master weights).
    Returns the mean loss and the emotion accuracy."""
    model.train()
    bf16 = training_precision(precision, device) == "bf16"
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in batches:
        loss, logits, y = forward_loss(model, x, y, device, bf16)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training loss became {loss.item()} at iteration {scheduler.last_epoch + 1}; "
                                   f"the last checkpoint is kept. Lower train.lr, or try train.precision=fp32")
        optimizer_step(loss, optimizer, scheduler)
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        progress.update(1)
    return loss_sum / max(seen, 1), correct / max(seen, 1)


@torch.no_grad()
def predict_probabilities(model, clips: EvalClips, config: dict) -> np.ndarray:
    """Softmax probabilities (N, K), averaged over each clip's evaluation windows."""
    precision, device = config["inference"]["precision"], device_of(config["train"])
    net = inference_model(model, precision)
    out = []
    for x, _ in clips.batches(config["train"]["batch_size"]):
        b, w = x.shape[:2]
        logits = net(network_input(x.flatten(0, 1), device, precision))
        out.append(logits.float().softmax(1).reshape(b, w, -1).mean(1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def eval_clips(data: PreparedData, indices, config: dict) -> EvalClips:
    d = config["data"]
    return EvalClips([data.arrays[i] for i in indices], [data.labels[i] for i in indices],
                     [data.apex[i] for i in indices], input_shape(d)[1], d["representation"], d["eval_windows"])


def training_epochs(config: dict) -> int:
    """``train.epochs``, or with ``train.match_iterations`` that many times the paper's 10 augmented
    versions over this run's (10x for no-augment, 5x for flip-only), so a run with fewer versions
    takes as many optimiser steps as the paper's amplified run and differs from it in the data alone."""
    epochs, aug = config["train"]["epochs"], config["augment"]
    if not config["train"].get("match_iterations"):
        return epochs
    versions = len(augmentation_plan(aug["enabled"], aug["flip"], tuple(aug["angles"])))
    return round(epochs * len(augmentation_plan()) / versions)


def validation_scores(model, data: PreparedData, fold: Fold, config: dict) -> tuple[float | None, float | None]:
    if not fold.val:
        return None, None
    clips = eval_clips(data, fold.val, config)
    probs = predict_probabilities(model, clips, config)
    labels = np.array([data.labels[i] for i in fold.val])
    loss = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())
    return loss, float((probs.argmax(1) == labels).mean())


def warn_missing_classes(data: PreparedData, fold: Fold) -> None:
    present = {data.labels[i] for i in fold.train}
    absent = [c for k, c in enumerate(data.dataset.classes) if k not in present]
    if absent:
        log.warning("fold %s: no training clip of class %s; the fold can never predict it",
                    fold.name, ", ".join(absent))


def train_fold(config: dict, data: PreparedData, fold: Fold, fold_index: int, run: RunDir) -> dict:
    """Train one fold (resuming from its checkpoint when present) and test it once."""
    train_cfg, d = config["train"], config["data"]
    aug = config["augment"]
    plan = augmentation_plan(aug["enabled"], aug["flip"], tuple(aug["angles"]))
    shape = input_shape(d)
    train_set = TrainClips([data.arrays[i] for i in fold.train],
                           data.training_targets(fold.train, model_needs_gender(config["model"]["name"])),
                           shape[1], d["representation"], plan)
    torch.manual_seed(derived_seed(config["seed"], fold_index))
    arch = architecture(config, len(data.dataset.classes), shape)
    device = device_of(train_cfg)
    model = create_model(**arch).to(device, memory_format=torch.channels_last_3d)
    optimizer = make_optimizer(model, train_cfg)
    scheduler = make_scheduler(optimizer, train_cfg)
    epochs = training_epochs(config)
    # The newest usable of the last two checkpoints; a damaged one is a warning, (0, []) starts over.
    start, history = resume_checkpoint(run.checkpoint(fold.name), model=model, optimizer=optimizer,
                                       scheduler=scheduler, max_epoch=epochs, what=f"fold {fold.name}")
    if start:
        log.info("fold %s: resuming after epoch %d", fold.name, start)
    steps_per_epoch = len(batch_bounds(len(train_set), train_cfg["batch_size"]))
    feed = TrainingFeed(train_set, config, partial(derived_seed, config["seed"], fold_index), range(start, epochs),
                        device)
    net = training_module(model, train_cfg, device)
    scalars = EpochScalars(run.path, fold.name, train_cfg["tensorboard"], start)
    with tqdm(total=epochs * steps_per_epoch, initial=start * steps_per_epoch, unit="batch",
              desc=f"fold {fold.name}", dynamic_ncols=True, leave=False) as progress, scalars:
        for epoch in range(start, epochs):
            began = time.perf_counter()
            loss, acc = train_epoch(net, feed.epoch(epoch), optimizer, scheduler, device, train_cfg["precision"],
                                    progress)
            val_loss, val_acc = validation_scores(model, data, fold, config)
            history.append({"fold": fold.name, "epoch": epoch + 1, "loss": loss, "accuracy": acc,
                            "val_loss": val_loss, "val_accuracy": val_acc,
                            "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - began})
            scalars.add(history[-1])
            progress.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}", acc=f"{acc:.2f}")
            if (epoch + 1) % train_cfg["checkpoint_every"] == 0 or epoch + 1 == epochs:
                save_checkpoint(run.checkpoint(fold.name), model=model, optimizer=optimizer,
                                scheduler=scheduler, epoch=epoch + 1, history=history)
    return finish_fold(config, data, fold, model, arch, history, run)


def finish_fold(config, data: PreparedData, fold: Fold, model, arch: dict, history: list[dict], run: RunDir) -> dict:
    """Test the fold's final model once, then save its weights and result; drop the checkpoints."""
    probs = predict_probabilities(model, eval_clips(data, fold.test, config), config) if fold.test else np.zeros((0, 0))
    train_clips = [data.dataset.clips[i] for i in fold.train]   # the artefact must not depend on test subjects
    durations = [d for d in map(clip_duration_s, train_clips) if d is not None]
    save_weights(model, run.weights(fold.name), arch, data.dataset.classes, extra={
        "data": config["data"], "fold": fold.name, "train_subjects": sorted({c.subject for c in train_clips}),
        "fps": data.dataset.fps, "typical_duration_s": float(np.median(durations)) if durations else None,
        # the time one training window spans: predict's default, so video is seen at the trained speed
        "window_duration_s": config["data"]["frames"] / data.dataset.fps if data.dataset.fps else None})
    result = {"fold": fold.name, "test_subjects": list(fold.test_subjects), "test": list(fold.test),
              "probabilities": probs.tolist(), "history": history}
    if fold.test:
        run.write_json(run.fold_result(fold.name), result)
    run.checkpoint(fold.name).unlink(missing_ok=True)
    previous_checkpoint(run.checkpoint(fold.name)).unlink(missing_ok=True)
    return result


def set_threads(config: dict) -> int:
    threads = config["train"]["threads"] or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


def execute(config: dict, run: RunDir, data: PreparedData | None = None,
            folds: list[str] | None = None, pool: bool = True) -> dict | None:
    """Train every fold not yet finished (with ``folds``, only the folds so named, ``final`` for the
    final model), then, once every fold of the protocol has its result, pool the predictions into
    the run's report and return its metrics; None while folds remain (a shard of a run). With
    ``pool=False`` only train (a Ray task: its driver writes the report once every task is done)."""
    threads = set_threads(config)
    run.write_json(run.env, {**environment(threads), "seed": config["seed"],
                             "training_precision": training_precision(config["train"]["precision"],
                                                                      device_of(config["train"]))})
    if data is None:
        data = prepare_data(config, folds)
    all_folds, chosen = run_folds(config, data, folds)
    classical = config["model"]["name"] == CLASSICAL
    fit_fold = None
    results = {}
    for index, fold in enumerate(all_folds):
        if (chosen is not None and fold.name not in chosen) or run.fold_result(fold.name).is_file():
            continue
        if fit_fold is None:    # LBP-TOP features depend on one clip each, never on the fold: once per run
            fit_fold = partial(train_classical_fold, features=lbptop_features(data)) if classical else train_fold
        log.info("fold %d/%d (%s): %d training clips, %d test clips", index + 1, len(all_folds), fold.name,
                 len(fold.train), len(fold.test))
        warn_missing_classes(data, fold)
        results[fold.name] = fit_fold(config, data, fold, index, run)
    if has_final_model(config) and (chosen is None or FINAL_FOLD in chosen):
        train_final_model(config, data, run, len(all_folds))
    if not pool or unfinished(run, all_folds, results):
        return None
    return pooled_report(run, data, all_folds, results)


def unfinished(run: RunDir, folds: list[Fold], results: dict | None = None) -> bool:
    """Whether some of ``folds`` have no result yet; if so, says which, and how to report later."""
    missing = missing_folds(run, folds, results)
    if missing:
        log.info("%d of %d folds done; remaining: %s. 'mer3d report %s' writes the report once all are done",
                 len(folds) - len(missing), len(folds), ", ".join(missing), run.path)
    return bool(missing)


def pooled_report(run: RunDir, data: PreparedData, folds: list[Fold], results: dict) -> dict:
    """The report from every fold's result, in the protocol's fold order: those of ``results``
    (trained by this process), the others read from the run folder."""
    pooled = [results[f.name] if f.name in results else run.read_json(run.fold_result(f.name)) for f in folds]
    return write_report(run, data.dataset, pooled, data.window_sources)


def report(run_path: str | Path) -> dict:
    """Write a run's report (metrics.json, predictions.csv, report.md, plots) from its fold results,
    as its last fold would have: for runs trained in shards (``--folds``). A one-line error names
    the folds that have no result yet."""
    run = RunDir(Path(run_path))
    config = run.read_config()
    data = prepare_data(config)
    folds = protocol_folds(config, [c.subject for c in data.dataset.clips], data.dataset.parts())
    missing = missing_folds(run, folds)
    if missing:
        raise UserError(f"{run.path}: {len(missing)} of {len(folds)} folds have no result yet: {', '.join(missing)}; "
                        f"train them with 'mer3d train --resume {run.path} --folds {','.join(missing)}'")
    return pooled_report(run, data, folds, {})


def train_final_model(config: dict, data: PreparedData, run: RunDir, index: int) -> None:
    """The deployable model: the same recipe on every subject, after (and never used by) the
    cross-validation; it has no test set, so its only output is RUN/model.safetensors."""
    if run.weights(FINAL_FOLD).is_file():
        return
    log.info("final model: %d training clips (all subjects)", len(data.arrays))
    train_fold(config, data, Fold(FINAL_FOLD, tuple(range(len(data.arrays))), ()), index, run)


def train(config: dict, out: str | Path, folds: list[str] | None = None) -> dict | None:
    """Start a new run in ``out`` and return its metrics (with ``folds``, train only those; None
    while other folds remain)."""
    device_of(config["train"])
    run, data = create_run(config, out, folds)
    return execute(config, run, data, folds)


def create_run(config: dict, out: str | Path, folds: list[str] | None = None) -> tuple[RunDir, PreparedData]:
    """The run folder ``out`` with its config.yaml, and the prepared data. The data and fold names
    are read and checked before the folder is created, so a mistake in them leaves nothing behind;
    the device is the caller's to check (a Ray driver need not have the workers' GPUs)."""
    run = RunDir(Path(out))
    if run.config.exists():
        raise UserError(f"{run.path}: already holds a run; use 'mer3d train --resume {run.path}' or another --out")
    check_new_folder(run.path, "--out")
    data = prepare_data(config, folds)
    run_folds(config, data, folds)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(config)
    return run, data


def run_folds(config: dict, data: PreparedData, folds: list[str] | None = None) -> tuple[list[Fold], set[str] | None]:
    """The protocol's folds of these subjects and the ones ``folds`` picks (None: all); a mistake in
    protocol.k, protocol.test_subjects, the parts or the ``--folds`` names is a UserError."""
    all_folds = protocol_folds(config, [c.subject for c in data.dataset.clips], data.dataset.parts())
    return all_folds, select_folds(folds, all_folds, config)


def resume(run_path: str | Path, folds: list[str] | None = None, pool: bool = True) -> dict | None:
    """Continue an interrupted run from its last checkpoint; finished folds are kept. With
    ``folds``, train only those (a shard of the run); None while other folds remain. ``pool``: as
    for :func:`execute`."""
    run = RunDir(Path(run_path))
    return execute(run.read_config(), run, folds=folds, pool=pool)
