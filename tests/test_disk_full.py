"""A full disk (or quota, read-only file system, permissions) while writing a checkpoint, a cache
entry, a report file or an export leaves the previous file as it was, no temporary file behind,
and ends with one line naming the file and the reason."""
import builtins
import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mer3d.training.trainer as trainer_module
from mer3d.atomic import atomic_write_text
from mer3d.cli import main
from mer3d.config import load_config
from mer3d.data.cache import read_entry, write_entry
from mer3d.errors import UserError
from mer3d.models.export import export_model
from mer3d.models.weights import save_weights
from mer3d.training.checkpoint import previous_checkpoint, read_checkpoint, save_checkpoint
from mer3d.training.optim import make_optimizer, make_scheduler
from mer3d.training.report import evaluate
from mer3d.training.run_dir import RunDir, write_csv

from conftest import TINY


class FullDisk:
    """A file that takes half of the first write it is given, then reports the error."""

    def __init__(self, file, code):
        self._file, self._code = file, code

    def write(self, data):
        self._file.write(data[: len(data) // 2])
        self._file.flush()
        raise OSError(self._code, os.strerror(self._code))

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def is_temporary_of(name, target: Path) -> bool:
    """Whether ``name`` is one of atomic_path's temporary files for ``target``."""
    name = Path(name)
    return (name.parent == target.parent and name.name.startswith(f".{target.stem}.")
            and name.name.endswith(f".tmp{target.suffix}"))


def fail_writes(monkeypatch, target: Path, where: str, code: int = errno.ENOSPC) -> None:
    """From now on, writing ``target`` fails with ``code`` at ``where``: the file's write, its
    fsync, or the rename onto ``target``; every other file is written normally."""
    real_open, real_fsync, real_replace = builtins.open, os.fsync, os.replace
    failing_fds = set()

    def patched_open(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and "w" in mode and is_temporary_of(file, target):
            if where == "write":
                return FullDisk(opened, code)
            failing_fds.add(opened.fileno())
        return opened

    def patched_fsync(fd):
        if fd in failing_fds:
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    def patched_replace(src, dst, *args, **kwargs):
        if Path(dst) == target:
            raise OSError(code, os.strerror(code))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", patched_open)
    if where == "fsync":
        monkeypatch.setattr(os, "fsync", patched_fsync)
    if where == "rename":
        monkeypatch.setattr(os, "replace", patched_replace)


# ---------------------------------------------------------------- the four kinds of file

def tiny_training():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    train = load_config()["train"]
    optimizer = make_optimizer(model, train)
    return model, optimizer, make_scheduler(optimizer, train)


def checkpoint_case(tmp_path):
    path = tmp_path / "folds" / "fold1" / "checkpoint.pt"
    model, optimizer, scheduler = tiny_training()

    def save(epoch):
        model(torch.randn(4, 4)).sum().backward()
        optimizer.step()
        scheduler.step()
        save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                        history=[{"epoch": n} for n in range(1, epoch + 1)])

    save(1)
    save(2)
    return path, lambda: save(3), [path, previous_checkpoint(path)]


def entry_case(tmp_path):
    path = tmp_path / "cache" / "clips" / f"{'0' * 64}.npy"
    write_entry(path, np.zeros((4, 16, 16, 1), np.uint8))
    return path, lambda: write_entry(path, np.full((4, 16, 16, 1), 7, np.uint8)), [path]


def report_run(tmp_path) -> RunDir:
    """A run folder with predictions, evaluated once: metrics.json and report.md exist."""
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_config(load_config("paper-casme2", overrides=["protocol.name=kfold", "protocol.k=2"]))
    rows = [{"fold": f"fold{1 + i % 2}", "subject": f"s{i}", "clip": f"c{i}", "true": "a" if i % 3 else "b",
             "predicted": "a", "apex_source": "annotated", "p_a": "0.7", "p_b": "0.3"} for i in range(6)]
    write_csv(run.predictions, rows, list(rows[0]))
    evaluate(run.path)
    return run


def changed_predictions(run: RunDir) -> None:
    rows = (run.predictions.read_text().replace(",a,annotated,0.7,0.3", ",b,annotated,0.2,0.8", 2))
    run.predictions.write_text(rows)


def metrics_case(tmp_path):
    run = report_run(tmp_path)
    changed_predictions(run)
    return run.metrics, lambda: evaluate(run.path), [run.metrics]


def report_case(tmp_path):
    run = report_run(tmp_path)
    changed_predictions(run)
    return run.report, lambda: evaluate(run.path), [run.report]


def predictions_case(tmp_path):
    run = report_run(tmp_path)
    rows = [{"fold": "fold1", "clip": "other"}]
    return run.predictions, lambda: write_csv(run.predictions, rows, ["fold", "clip"]), [run.predictions]


def export_case(tmp_path):
    arch = {"name": "vgg3d", "num_classes": 2, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25, "hidden": 8}
    torch.manual_seed(0)
    from mer3d.models import create_model
    weights = save_weights(create_model(**arch).eval(), tmp_path / "m.safetensors", arch, ["a", "b"])
    out = tmp_path / "exported" / "model.onnx"
    export_model(weights, "onnx", out)
    return out, lambda: export_model(weights, "onnx", out), [out, out.with_suffix(".json")]


KINDS = {"checkpoint": checkpoint_case, "cache entry": entry_case, "metrics.json": metrics_case,
         "report.md": report_case, "predictions.csv": predictions_case, "export": export_case}
SYNCED = ("checkpoint", "cache entry", "metrics.json", "report.md")   # the writers that fsync
CASES = [(kind, where) for kind in KINDS for where in ("write", "fsync", "rename")
         if where != "fsync" or kind in SYNCED]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # torch's exporters
@pytest.mark.parametrize("kind, where", CASES)
def test_a_full_disk_keeps_the_previous_file_and_names_it(tmp_path, monkeypatch, kind, where):
    target, rewrite, kept = KINDS[kind](tmp_path)
    before = {path: path.read_bytes() for path in kept}
    listing = sorted(p.name for p in target.parent.iterdir())
    fail_writes(monkeypatch, target, where)
    with pytest.raises(UserError) as raised:
        rewrite()
    message = str(raised.value)
    assert message == f"{target}: cannot write (no space left on device); any previous version of it is left as it was"
    assert "\n" not in message
    monkeypatch.undo()
    assert {path: path.read_bytes() for path in kept} == before
    assert sorted(p.name for p in target.parent.iterdir()) == listing    # no temporary file left
    rewrite()                                                           # with space again, it works
    assert sorted(p.name for p in target.parent.iterdir()) == listing


@pytest.mark.parametrize("code, reason", [(errno.ENOSPC, "no space left on device"),
                                          (errno.EDQUOT, "disk quota exceeded"),
                                          (errno.EROFS, "read-only file system"),
                                          (errno.EACCES, "permission denied")])
def test_each_storage_error_is_named(tmp_path, monkeypatch, code, reason):
    target, rewrite, kept = entry_case(tmp_path)
    before = target.read_bytes()
    fail_writes(monkeypatch, target, "write", code)
    with pytest.raises(UserError, match=f"{target}: cannot write \\({reason}\\)"):
        rewrite()
    monkeypatch.undo()
    assert target.read_bytes() == before and read_entry(target) is not None
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_a_program_error_while_writing_is_not_disguised(tmp_path, monkeypatch):
    target = tmp_path / "notes.txt"
    fail_writes(monkeypatch, target, "write", errno.EBADF)     # not the storage's fault: stays an OSError
    with pytest.raises(OSError) as raised:
        atomic_write_text(target, "text")
    assert raised.value.errno == errno.EBADF
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_training_on_a_full_disk_stops_with_one_line_and_resumes_later(tmp_path, demo_root, monkeypatch, capsys):
    run = tmp_path / "run"
    sets = TINY + [f"data.cache_dir={tmp_path / 'cache'}", "train.epochs=2", "protocol.name=kfold", "protocol.k=2",
                   "train.final_model=false"]
    checkpoint = run / "folds" / "fold1" / "checkpoint.pt"
    real_save = trainer_module.save_checkpoint

    def full_at_epoch_2(path, **kwargs):
        if kwargs["epoch"] == 2:
            fail_writes(monkeypatch, checkpoint, "write")
        real_save(path, **kwargs)

    monkeypatch.setattr(trainer_module, "save_checkpoint", full_at_epoch_2)
    code = main(["train", "--preset", "paper-casme2", "--root", str(demo_root), "--out", str(run),
                 *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err
    monkeypatch.undo()
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"mer3d: error: {checkpoint}: cannot write (no space left on device); "
                                            f"any previous version of it is left as it was")
    assert read_checkpoint(checkpoint)["epoch"] == 1
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["checkpoint.pt"]
    assert main(["train", "--resume", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["folds"] == 2
