"""Per-epoch training scalars as TensorBoard event files (``train.tensorboard``), to watch a long
run while it trains: ``RUN/tensorboard/<fold>/``, one log directory per fold, step = epoch number.
history.csv stays the run's record; these are the same numbers in TensorBoard's format."""
from __future__ import annotations

from pathlib import Path

FOLDER = "tensorboard"
# TensorBoard tag -> key of a history row (trainer.train_fold); a None value (no validation) is skipped.
TAGS = {"train/loss": "loss", "train/accuracy": "accuracy", "train/lr": "lr",
        "val/loss": "val_loss", "val/accuracy": "val_accuracy"}


class EpochScalars:
    """A context manager that writes each epoch's history row of one fold, or, disabled, nothing
    (no folder either). ``start`` is the epoch a resumed fold continues after."""

    def __init__(self, run_path: Path, fold_name: str, enabled: bool, start: int = 0):
        self.log_dir = Path(run_path) / FOLDER / fold_name
        self.enabled, self.start = enabled, start
        self.writer = None

    def __enter__(self) -> EpochScalars:
        if self.enabled:
            # Imported here: torch.utils.tensorboard imports TensorFlow when installed (seconds of
            # start-up that every run without train.tensorboard would pay).
            from torch.utils.tensorboard import SummaryWriter

            # An interrupted attempt may have logged epochs after the checkpoint it resumes from;
            # purge_step hides them, so each epoch shows once, with the values that were kept.
            self.writer = SummaryWriter(str(self.log_dir), purge_step=self.start + 1)
        return self

    def add(self, row: dict) -> None:
        if self.writer is None:
            return
        for tag, key in TAGS.items():
            if row[key] is not None:
                self.writer.add_scalar(tag, row[key], row["epoch"])

    def __exit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()   # flushes; on an exception too, so the epochs so far stay readable
            self.writer = None
