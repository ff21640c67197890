"""``--executor ray``: the folds as tasks on a (local, 2-CPU) Ray cluster give byte for byte the
local executor's report; a worker killed mid-fold is retried from the fold's checkpoint; a fold's
UserError fails the run once, on one line; without Ray the option is a one-line error."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import TINY
from mer3d.cli import main
from mer3d.training.checkpoint import read_checkpoint
from test_compare import write_spec

REPORT_FILES = ("predictions.csv", "metrics.json", "report.md", "confusion_matrix.png", "model.safetensors")


def train_args(root, cache, *extra_sets):
    sets = TINY + [f"data.cache_dir={cache}", "protocol.name=kfold", "protocol.k=2", *extra_sets]
    return ["train", "--preset", "paper-casme2", "--root", str(root), *[a for s in sets for a in ("--set", s)]]


@pytest.fixture(scope="module")
def ray_address():
    """One Ray cluster of 2 CPUs for the module's tests; its processes end with the module."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mer3d: error:")]


def test_ray_executor_gives_the_local_report_byte_for_byte(tmp_path, demo_root, ray_address, capsys):
    args = train_args(demo_root, tmp_path / "cache", "train.epochs=2", "train.final_model=true")
    assert main(args + ["--out", str(tmp_path / "local")]) == 0
    assert main(args + ["--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    assert "UF1" in capsys.readouterr().out
    for name in REPORT_FILES:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert not list((tmp_path / "ray").glob("folds/*/worker.json"))


def test_a_killed_worker_is_retried_from_the_fold_checkpoint(tmp_path, demo_root, ray_address):
    args = train_args(demo_root, tmp_path / "cache", "train.epochs=12", "train.final_model=false")
    assert main(args + ["--out", str(tmp_path / "local")]) == 0
    run = tmp_path / "ray"
    driver = subprocess.Popen([sys.executable, "-m", "mer3d", *args, "--out", str(run), "--executor", "ray",
                               "--ray-address", ray_address], env={**os.environ, "MER3D_NO_REEXEC": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoint, marker = run / "folds" / "fold1" / "checkpoint.pt", run / "folds" / "fold1" / "worker.json"
    deadline = time.time() + 300    # a loaded machine can take minutes to start Ray's workers
    while not (checkpoint.exists() and marker.exists()) and driver.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert checkpoint.exists(), f"no checkpoint of fold1 to resume from: {driver.poll()=}"
    killed = json.loads(marker.read_text())["pid"]
    os.kill(killed, signal.SIGKILL)
    first_epoch = read_checkpoint(checkpoint)["history"][0]     # as the killed worker measured it
    err = driver.communicate(timeout=120)[1]
    assert driver.returncode == 0, err
    rerun = [line for line in err.splitlines() if "fold1: trained on" in line]
    assert len(rerun) == 1 and f"(pid {killed})" not in rerun[0], err      # the retry, in another worker ...
    result = json.loads((run / "folds" / "fold1" / "result.json").read_text())
    assert result["history"][0] == first_epoch     # ... went on from the checkpoint, not from scratch
    for name in ("predictions.csv", "metrics.json"):
        assert (run / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


def test_compare_on_ray_gives_the_local_comparison(tmp_path, demo_root, ray_address):
    spec = write_spec(tmp_path / "compare.yaml", demo_root, tmp_path / "cache")
    assert main(["compare", "--config", str(spec), "--out", str(tmp_path / "local")]) == 0
    assert main(["compare", "--config", str(spec), "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    for name in ("comparison.csv", "comparison.md", "runs/no-augment/seed1/predictions.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert not (tmp_path / "ray" / "runs" / "geme").exists()     # skipped as locally: the demo has no genders


def test_a_fold_user_error_fails_the_run_once_on_one_line(tmp_path, demo_root, ray_address, capsys):
    args = train_args(demo_root, tmp_path / "cache", "train.epochs=1", "train.final_model=false", "train.lr=1e30",
                      "train.optimizer=adam")
    assert main(args + ["--out", str(tmp_path / "run"), "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "training loss became nan" in error_lines(err)[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert not list((tmp_path / "run").glob("folds/*/worker.json"))


def test_refusals_before_anything_is_created(tmp_path, demo_root, capsys, monkeypatch):
    run = tmp_path / "run"
    args = train_args(demo_root, tmp_path / "cache", "train.epochs=1") + ["--out", str(run)]
    assert main(args + ["--ray-address", "auto"]) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err
    assert main(args + ["--executor", "ray", "--set", "train.threads=null"]) == 2
    assert error_lines(capsys.readouterr().err)[0].startswith("mer3d: error: train.threads: set it for --executor ray")

    monkeypatch.setitem(sys.modules, "ray", None)     # as if Ray were not installed
    assert main(args + ["--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == ["mer3d: error: --executor ray needs Ray: pip install 'mer3d[distributed]'"]
    assert not run.exists()


def test_the_command_imports_ray_only_for_the_ray_executor():
    code = "import sys, mer3d.cli; assert 'ray' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
