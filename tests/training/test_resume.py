"""A run killed with SIGKILL and resumed gives exactly the uninterrupted run's results (CPU, fixed seed)."""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import TINY


def train_command(root, out, cache, extra=()):
    sets = TINY + [f"data.cache_dir={cache}", "train.epochs=6", "protocol.name=kfold", "protocol.k=2", *extra]
    return [sys.executable, "-m", "mer3d", "train", "--preset", "paper-casme2", "--root", str(root),
            "--out", str(out), *[a for s in sets for a in ("--set", s)]]


def test_sigkill_then_resume_matches_uninterrupted(tmp_path, demo_root):
    env = {**os.environ, "MER3D_NO_REEXEC": "1"}
    cache = tmp_path / "cache"
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(train_command(demo_root, whole, cache), env=env, check=True, capture_output=True)

    process = subprocess.Popen(train_command(demo_root, killed, cache), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = killed / "folds" / "fold1" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "metrics.json").exists(), "the run finished before it could be killed"

    resumed = subprocess.run([sys.executable, "-m", "mer3d", "train", "--resume", str(killed)], env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stderr
    assert (killed / "predictions.csv").read_text() == (whole / "predictions.csv").read_text()
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (whole, killed)]
    assert metrics[0] == metrics[1]
    history = [[{k: v for k, v in row.items() if k != "seconds"} for row in json.loads(
        (run / "folds" / "fold1" / "result.json").read_text())["history"]] for run in (whole, killed)]
    assert history[0] == history[1]


def test_a_diverging_run_stops_with_a_clear_message(tmp_path, demo_root, capsys):
    from mer3d.cli import main

    sets = TINY + [f"data.cache_dir={tmp_path / 'cache'}", "train.epochs=1", "train.lr=1e30",
                   "train.optimizer=adam", "protocol.name=kfold", "protocol.k=2"]
    code = main(["train", "--preset", "paper-casme2", "--root", str(demo_root), "--out", str(tmp_path / "run"),
                 *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err
    assert code == 2 and "training loss became nan" in err and "Traceback" not in err
