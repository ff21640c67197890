"""Two runs building one cache at the same time (the same settings, or settings that share frames
entries and add motion entries) both finish with the results each gives alone, and leave only
whole entries behind."""
import os
import subprocess
import sys

import pytest

from mer3d.cli import main
from mer3d.data.cache import read_entry

from conftest import TINY

SETTINGS = {
    "gray": [],
    # flow computed from the same 32 px gray frames entries as "gray", plus motion entries
    "flow": ["data.representation=flow", "data.flow=dis", "data.flow_size=32", "data.workers=1", "seed=1"],
}


def command(root, out, cache, settings):
    sets = TINY + [f"data.cache_dir={cache}", "train.epochs=1", "protocol.name=kfold", "protocol.k=2",
                   "train.final_model=false", *SETTINGS[settings]]
    return [sys.executable, "-m", "mer3d", "train", "--preset", "paper-casme2", "--root", str(root),
            "--out", str(out), *[a for s in sets for a in ("--set", s)]]


ENV = {**os.environ, "MER3D_NO_REEXEC": "1"}


@pytest.fixture(scope="module")
def alone(tmp_path_factory, demo_root):
    """predictions.csv of each setting, run on its own with a cache of its own (in this process:
    the same code without a second interpreter's start-up)."""
    base = tmp_path_factory.mktemp("alone")
    results = {}
    for name in SETTINGS:
        assert main(command(demo_root, base / name, base / f"cache-{name}", name)[3:]) == 0
        results[name] = (base / name / "predictions.csv").read_text()
    return results


def assert_only_whole_entries(cache) -> None:
    files = [path for path in cache.rglob("*") if path.is_file()]
    assert files and all(path.suffix == ".npy" and not path.name.startswith(".") for path in files), files
    assert all(read_entry(path) is not None for path in files)


@pytest.mark.parametrize("first, second", [("gray", "gray"), ("gray", "flow")])
def test_two_runs_sharing_a_cache_at_once_give_their_results_alone(alone, demo_root, tmp_path, first, second):
    cache = tmp_path / "shared-cache"
    outs = [tmp_path / "run-a", tmp_path / "run-b"]
    processes = [subprocess.Popen(command(demo_root, out, cache, name), env=ENV, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
                 for out, name in zip(outs, (first, second))]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    for process, err in zip(processes, errors):
        assert process.returncode == 0, err
        assert "damaged" not in err and "Traceback" not in err, err
    for out, name in zip(outs, (first, second)):
        assert (out / "predictions.csv").read_text() == alone[name]
    assert_only_whole_entries(cache)
    if "flow" in (first, second):
        assert (cache / "motion").is_dir()
