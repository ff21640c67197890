"""Resumable training state, written atomically after each epoch so that even a SIGKILL loses at
most the epoch in progress.

A checkpoint file is ``torch.save``'s bytes followed by a checksum trailer (``atomic.checksummed``:
a marker and the BLAKE2b-256 digest), since torch itself does not notice a flipped bit. The last
two are kept: saving writes the new ``checkpoint.pt`` atomically, and only once it is in place
does the one it replaced (kept meanwhile under a second name) become ``checkpoint.previous.pt``.
On resume a checkpoint that is damaged (unreadable, checksum mismatch, not a mer3d checkpoint, keys
or shapes that do not fit the model) is skipped with a warning for the previous one, else the fold
starts over; nothing of a skipped checkpoint is left in the model, optimiser, scheduler or RNG.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import shutil
from pathlib import Path

import torch

from ..atomic import DamagedFile, atomic_write_bytes, checksummed, storage_error, verified

log = logging.getLogger("mer3d")
KEYS = ("model", "optimizer", "scheduler", "rng", "cuda_rng", "epoch", "history")


class DamagedCheckpoint(ValueError):
    """A checkpoint that cannot be resumed from; the message says why."""


def previous_checkpoint(path: Path) -> Path:
    """Where the checkpoint before ``path`` is kept: ``checkpoint.pt`` -> ``checkpoint.previous.pt``."""
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def save_checkpoint(path: Path, *, model, optimizer, scheduler, epoch: int, history: list[dict]) -> None:
    """Everything the next epoch depends on: weights, BN statistics, momentum, learning-rate step,
    the global torch RNGs (dropout draws); data order is re-derived from (seed, fold, epoch)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "epoch": epoch,
        "history": history,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    # The current checkpoint becomes the previous one only once the new one is in place: until
    # then a second name (a hard link) holds it, so no failure or kill leaves neither file behind,
    # and a failed write (a full disk) leaves both old files as they were.
    previous = previous_checkpoint(path)
    kept = _second_name(path, previous) if path.is_file() else None
    try:
        atomic_write_bytes(path, checksummed(buffer.getvalue()))
        if kept is not None:
            os.replace(kept, previous)
    except BaseException:
        if kept is not None:
            with contextlib.suppress(OSError):
                kept.unlink(missing_ok=True)
        raise


def _second_name(path: Path, previous: Path) -> Path:
    """A temporary name beside ``previous`` for ``path``'s current content: a hard link, or a copy
    where the file system has none."""
    kept = previous.with_name(f".{previous.stem}.{os.getpid()}.tmp{previous.suffix}")
    try:
        kept.unlink(missing_ok=True)
        try:
            os.link(path, kept)
        except OSError:
            shutil.copyfile(path, kept)
    except OSError as error:
        with contextlib.suppress(OSError):
            kept.unlink(missing_ok=True)
        friendly = storage_error(previous, error)
        if friendly is None:
            raise
        raise friendly from None
    return kept


def read_checkpoint(path: Path) -> dict:
    """The state saved in ``path`` after checking its checksum and layout; ``DamagedCheckpoint``
    otherwise (an unreadable file is an ``OSError``)."""
    try:
        body = verified(Path(path).read_bytes())
    except DamagedFile as error:
        raise DamagedCheckpoint(str(error)) from None
    try:
        state = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)  # never unpickle objects
    except Exception as error:   # whatever torch's reader or the restricted unpickler raise
        raise DamagedCheckpoint(f"torch cannot read it ({error.__class__.__name__})") from None
    if not isinstance(state, dict):
        raise DamagedCheckpoint(f"holds a {type(state).__name__}, not a mer3d checkpoint")
    missing = [key for key in KEYS if key not in state]
    if missing:
        raise DamagedCheckpoint(f"not a mer3d checkpoint (no {', '.join(missing)})")
    return state


def check_state(state: dict, *, model, optimizer, scheduler, max_epoch: int | None = None) -> None:
    """``DamagedCheckpoint`` unless ``state`` fits this model, optimiser and scheduler exactly."""
    epoch, history = state["epoch"], state["history"]
    _require(_is_count(epoch) and epoch >= 1, f"epoch {epoch!r} is not a count")
    _require(max_epoch is None or epoch <= max_epoch, f"epoch {epoch} is beyond train.epochs ({max_epoch})")
    _require(isinstance(history, list) and len(history) == epoch
             and all(isinstance(row, dict) and row.get("epoch") == n for n, row in enumerate(history, 1)),
             f"its history does not have one row for each of its {epoch} epochs")
    weights, expected = state["model"], model.state_dict()
    _require(isinstance(weights, dict), "its model weights are not a mapping")
    for key in expected:
        _require(key in weights, f"model weight '{key}' is missing")
        value, tensor = weights[key], expected[key]
        _require(isinstance(value, torch.Tensor) and value.shape == tensor.shape and value.dtype == tensor.dtype,
                 f"model weight '{key}' is not a {tensor.dtype} tensor of shape {tuple(tensor.shape)}")
    extra = sorted(str(key) for key in weights if key not in expected)
    _require(not extra, f"model weight '{extra[0] if extra else ''}' is not in this model")
    _check_optimizer(state["optimizer"], optimizer)
    _require(_fits(state["scheduler"], scheduler.state_dict()), "its learning-rate schedule state does not fit")
    rng = state["rng"]
    _require(isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8 and rng.shape == torch.get_rng_state().shape,
             "its RNG state is not torch's")
    _require(isinstance(state["cuda_rng"], list) and all(isinstance(t, torch.Tensor) for t in state["cuda_rng"]),
             "its CUDA RNG state is not a list of tensors")


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise DamagedCheckpoint(reason)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fits(value, like) -> bool:
    """Whether ``value`` is of the kind of ``like``: numbers for numbers, mappings with the same
    keys, sequences of the same length, tensors of the same shape."""
    if like is None or isinstance(like, bool):
        return value is None or isinstance(value, bool)
    if isinstance(like, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(like, dict):
        return isinstance(value, dict) and set(value) == set(like) and all(_fits(value[k], like[k]) for k in like)
    if isinstance(like, (list, tuple)):
        return (isinstance(value, (list, tuple)) and len(value) == len(like)
                and all(_fits(v, w) for v, w in zip(value, like)))
    if isinstance(like, torch.Tensor):
        return isinstance(value, torch.Tensor) and value.shape == like.shape
    return type(value) is type(like)


def _check_optimizer(saved, optimizer) -> None:
    """The saved groups must match this optimiser's (hyperparameters of the same kinds, as many
    parameters), and each parameter's state tensors its parameter's shape."""
    current = optimizer.state_dict()
    _require(isinstance(saved, dict) and set(saved) == set(current) and isinstance(saved["state"], dict)
             and isinstance(saved["param_groups"], list) and len(saved["param_groups"]) == len(current["param_groups"]),
             "its optimizer state is not this optimizer's")
    shapes = {}
    for group, like, live in zip(saved["param_groups"], current["param_groups"], optimizer.param_groups):
        _require(isinstance(group, dict) and isinstance(group.get("params"), list)
                 and len(group["params"]) == len(like["params"]) and all(map(_is_count, group["params"]))
                 and _fits({k: v for k, v in group.items() if k != "params"},
                           {k: v for k, v in like.items() if k != "params"}),
                 "its optimizer has other parameter groups or settings")
        shapes.update(zip(group["params"], (p.shape for p in live["params"])))
    for key, values in saved["state"].items():
        _require(key in shapes and isinstance(values, dict), f"its optimizer state names an unknown parameter {key!r}")
        for name, value in values.items():
            _require(value is None or _fits(value, 0) or (isinstance(value, torch.Tensor) and value.is_floating_point()
                                                          and value.ndim in (0, len(shapes[key]))
                                                          and (value.ndim == 0 or value.shape == shapes[key])),
                     f"optimizer state '{name}' of parameter {key} does not have its parameter's shape")


def load_checkpoint(path: Path, *, model, optimizer, scheduler, max_epoch: int | None = None) -> tuple[int, list[dict]]:
    """Restore the state saved by ``save_checkpoint``; returns (epochs done, history so far).
    ``DamagedCheckpoint`` (or ``OSError``) when it cannot be used, and then nothing is changed."""
    state = read_checkpoint(path)
    check_state(state, model=model, optimizer=optimizer, scheduler=scheduler, max_epoch=max_epoch)
    before = {"model": copy.deepcopy(model.state_dict()), "optimizer": copy.deepcopy(optimizer.state_dict()),
              "scheduler": copy.deepcopy(scheduler.state_dict()), "rng": torch.get_rng_state(),
              "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    try:
        _apply(state, model, optimizer, scheduler)
    except Exception as error:   # checked above; should torch still refuse it, take nothing of it
        _apply(before, model, optimizer, scheduler)
        first_line = (str(error).splitlines() or [""])[0][:200]
        raise DamagedCheckpoint(f"torch refused it ({error.__class__.__name__}: {first_line})") from None
    return int(state["epoch"]), list(state["history"])


def _apply(state: dict, model, optimizer, scheduler) -> None:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])


def resume_checkpoint(path: Path, *, model, optimizer, scheduler, max_epoch: int | None = None,
                      what: str = "training") -> tuple[int, list[dict]]:
    """Restore the newest usable of ``path`` and the checkpoint before it; (0, []) (start over)
    when neither exists or is usable. A damaged one is logged as a warning naming it, never raised."""
    candidates = [path, previous_checkpoint(path)]
    damaged = []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            result = load_checkpoint(candidate, model=model, optimizer=optimizer, scheduler=scheduler,
                                     max_epoch=max_epoch)
        except (DamagedCheckpoint, OSError) as error:
            reason = str(error) if isinstance(error, DamagedCheckpoint) else f"unreadable: {error.strerror or error}"
            log.warning("%s: damaged checkpoint, not used (%s)", candidate, reason)
            damaged.append(candidate)
            continue
        if damaged:
            log.warning("%s: resuming from this earlier checkpoint instead", candidate)
        return result
    if damaged:
        log.warning("%s: no usable checkpoint left; starts over from its first epoch", what)
    return 0, []
