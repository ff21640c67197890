"""The layout of a run folder: everything needed to audit, resume or re-evaluate a run."""
from __future__ import annotations

import csv
import json
import platform
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..atomic import atomic_path, atomic_write_text
from ..config import dump_config, load_saved_config
from ..errors import UserError

FINAL_FOLD = "final"   # the model trained on all subjects after cross-validation
TRACKED_PACKAGES = ("mer3d", "torch", "numpy", "opencv-contrib-python-headless", "pandas", "safetensors")


def environment(threads: int) -> dict:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "torch_threads": threads, "packages": versions}


@dataclass(frozen=True)
class RunDir:
    path: Path

    config = property(lambda self: self.path / "config.yaml")
    env = property(lambda self: self.path / "environment.json")
    metrics = property(lambda self: self.path / "metrics.json")
    predictions = property(lambda self: self.path / "predictions.csv")
    history = property(lambda self: self.path / "history.csv")
    report = property(lambda self: self.path / "report.md")

    def fold_dir(self, fold: str) -> Path:
        return self.path / "folds" / fold

    def checkpoint(self, fold: str) -> Path:
        return self.fold_dir(fold) / "checkpoint.pt"

    def fold_result(self, fold: str) -> Path:
        return self.fold_dir(fold) / "result.json"

    def weights(self, fold: str) -> Path:
        if fold == FINAL_FOLD:
            return self.path / "model.safetensors"
        return self.fold_dir(fold) / "model.safetensors"

    def write_config(self, config: dict) -> None:
        atomic_write_text(self.config, dump_config(config))

    def read_config(self) -> dict:
        """The run's settings, checked as a fresh configuration is (``config.load_saved_config``)."""
        if not self.config.is_file():
            raise UserError(f"{self.path}: not a mer3d run folder (no config.yaml)")
        return load_saved_config(self.config)

    def write_json(self, path: Path, data) -> None:
        atomic_write_text(path, json.dumps(data, indent=2))

    def read_json(self, path: Path):
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: unreadable ({exc.__class__.__name__})") from None


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV file mer3d wrote; a missing, undecodable or malformed one is a one-line error."""
    if not path.is_file():
        raise UserError(f"{path}: not found")
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: not a readable CSV file ({' '.join(str(error).split())})") from None


def resolve_weights(path: str | Path) -> Path:
    """The weights a path names: a ``.safetensors`` file itself, or for a run folder its final model
    (``RUN/model.safetensors``), else its only fold's model."""
    path = Path(path)
    if path.is_file() and path.suffix == ".safetensors":
        return path
    if not path.is_dir():
        raise UserError(f"{path}: not a .safetensors weights file or a run folder")
    run = RunDir(path)
    if not run.config.is_file():
        raise UserError(f"{path}: not a mer3d run folder (no config.yaml)")
    if run.weights(FINAL_FOLD).is_file():
        return run.weights(FINAL_FOLD)
    return only_fold_weights(run)


def only_fold_weights(run: RunDir) -> Path:
    """The weights of a run's single fold; with several folds each is a different model, so the
    user has to pick one."""
    folds_dir = run.path / "folds"
    folds = sorted(p.name for p in folds_dir.iterdir() if p.is_dir()) if folds_dir.is_dir() else []
    saved = [run.weights(fold) for fold in folds if run.weights(fold).is_file()]
    if len(folds) == 1 and saved:
        return saved[0]
    if not saved:
        raise UserError(f"{run.path}: holds no trained weights yet ({run.weights(FINAL_FOLD).name} or folds/<fold>/model.safetensors)")
    raise UserError(f"{run.path}: {len(folds)} folds and no final {run.weights(FINAL_FOLD).name}; pass one fold's weights: "
                    + ", ".join(str(p) for p in saved))


def check_new_folder(path: Path, option: str) -> None:
    """A UserError naming ``option`` unless ``path`` is, or can be made as, a folder we can write in;
    probed by making and removing a temporary folder, so nothing is left behind (and root's
    permissions do not hide a read-only file system)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: exists and is not a folder")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryDirectory(dir=existing).cleanup()
    except OSError as error:
        raise UserError(f"{option} {path}: cannot write in {existing} ({error.strerror or error})") from None
