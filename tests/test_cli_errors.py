"""What every command guarantees: a user mistake is one line and exit 2, leaving nothing behind; a bug
is a one-line summary and exit 1, with the traceback only on request."""
from __future__ import annotations

import pytest

from conftest import TINY
from mer3d import cli
from mer3d.cli import main


def boom(args):
    raise RuntimeError("missing 'x'\nsecond line")


@pytest.mark.parametrize("debug", [False, True])
def test_an_internal_error_is_one_line_and_exit_1_with_the_traceback_on_request(monkeypatch, capsys, debug):
    monkeypatch.setattr(cli, "run_command", boom)
    monkeypatch.delenv("MER3D_DEBUG", raising=False)
    assert main(["evaluate", "somewhere", *(["--debug"] if debug else [])]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == ("mer3d: internal error: RuntimeError: missing 'x'; second line (a bug in "
                                           "mer3d; --debug or MER3D_DEBUG=1 prints the traceback)")
    assert ("Traceback" in err) == debug


def test_mer3d_debug_environment_variable_prints_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(cli, "run_command", boom)
    monkeypatch.setenv("MER3D_DEBUG", "1")
    assert main(["evaluate", "somewhere"]) == 1
    assert "Traceback" in capsys.readouterr().err


def train(root, out, cache, *sets):
    options = [*TINY, f"data.cache_dir={cache}", "train.epochs=1", *sets]
    return main(["train", "--root", str(root), "--out", str(out), *[a for s in options for a in ("--set", s)]])


@pytest.mark.parametrize("sets, message", [
    (["protocol.name=kfold", "protocol.k=100"], "protocol.k = 100 is more than the 4 subjects"),
    (["protocol.name=split", "protocol.test_subjects=['99']"], "protocol.test_subjects: unknown subject '99'"),
    (["train.device=cuda"], "train.device=cuda but PyTorch sees no CUDA device"),
])
def test_settings_that_do_not_fit_the_data_leave_no_run_folder(tmp_path, demo_root, capsys, sets, message):
    out = tmp_path / "run"
    assert train(demo_root, out, tmp_path / "cache", *sets) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()[-1]) > 0
    assert not out.exists()


@pytest.mark.parametrize("make, message", [
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "exists and is not a folder"),
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "run", "is a file, not a folder"),
])
def test_out_that_cannot_be_a_run_folder_is_refused_before_any_work(tmp_path, demo_root, capsys, make, message):
    out = make(tmp_path)
    assert train(demo_root, out, tmp_path / "cache") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()      # refused before the data were read
