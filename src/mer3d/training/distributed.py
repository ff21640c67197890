"""Where a run's folds train: one after another in this process (``--executor local``), or as tasks
on a Ray cluster (``--executor ray``), several folds, cells and seeds at once.

With Ray, the driver (the ``mer3d train``/``compare`` process) checks the config and the data and
creates each run folder as a local run does; then every fold that still lacks a result (and
``final``) becomes one Ray task, all of them submitted together, and each task trains its fold
through the local resume path (:func:`.trainer.resume` with that one fold), from the fold's
checkpoint when there is one. An ``lbptop-svm`` run is one task: its features are computed once per
run. Once every task is done the driver writes each run's report as a local run writes it.

Results travel through the run folder, so the run folder and ``data.cache_dir`` must be on storage
every worker sees, at the same path. A task trains with ``train.threads`` torch threads and asks
Ray for as many CPUs: the count a local run with the same config uses, hence the same numbers
(``train.threads: null``, every core of whichever machine, is refused)."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ..errors import UserError
from ..launcher import GLIBC_ALLOCATOR
from .classical import MODEL_NAME as CLASSICAL
from .folds import has_final_model, missing_folds
from .prepared import PreparedData
from .protocols import Fold
from .run_dir import FINAL_FOLD, RunDir
from .trainer import create_run, pooled_report, prepare_data, resume, run_folds, train, unfinished

log = logging.getLogger("mer3d")

EXECUTORS = ("local", "ray")
RETRIES = 3     # runs of a task whose worker died (SIGKILL, out of memory, a lost node); each resumes
# Set as each worker process starts, which is when glibc reads its allocator settings (mer3d's
# command sets them by re-executing itself, see mer3d.launcher); no per-batch bars in workers, whose
# output reaches the driver's console line by line.
TASK_ENVIRONMENT = {**GLIBC_ALLOCATOR, "MER3D_NO_REEXEC": "1", "TQDM_DISABLE": "1"}
POLL_S = 1.0    # how often the progress bar looks for tasks that started


def executor_runs(executor: str, address: str | None = None) -> Runs:
    """The runs of one ``mer3d train``/``compare``, trained by ``executor``; use it as a context manager."""
    if executor not in EXECUTORS:
        raise UserError(f"--executor {executor}: must be one of {', '.join(EXECUTORS)}")
    if executor == "ray":
        return RayRuns(address)
    if address is not None:
        raise UserError("--ray-address needs --executor ray")
    return Runs()


class Runs:
    """Each run trained as soon as it is added, in this process (the local executor)."""

    def __init__(self):
        self.metrics: list[dict | None] = []

    def __enter__(self) -> Runs:
        return self

    def __exit__(self, *error) -> None:
        pass

    def train(self, config: dict, out: str | Path, folds: list[str] | None = None) -> None:
        self.metrics.append(train(config, out, folds))

    def resume(self, run_path: str | Path, folds: list[str] | None = None) -> None:
        self.metrics.append(resume(run_path, folds))

    def finish(self) -> list[dict | None]:
        """Each added run's metrics, in order (None for a run whose other folds remain)."""
        return self.metrics


@dataclass(frozen=True)
class PendingRun:
    run: RunDir
    data: PreparedData
    folds: list[Fold]
    tasks: list[tuple[str, ...]]    # the folds each task trains
    options: dict                   # Ray's options for them


class RayRuns(Runs):
    """Runs checked and created as they are added; then their folds as Ray tasks, all at once."""

    def __init__(self, address: str | None):
        super().__init__()
        self.ray = ray_module()
        self.address = address
        self.started_ray = False
        self.pending: list[PendingRun] = []

    def __exit__(self, *error) -> None:
        if self.started_ray:
            self.ray.shutdown()

    def train(self, config: dict, out: str | Path, folds: list[str] | None = None) -> None:
        options = self.task_options(config)
        self.add(config, *create_run(config, out, folds), folds, options)

    def resume(self, run_path: str | Path, folds: list[str] | None = None) -> None:
        run = RunDir(Path(run_path))
        config = run.read_config()
        options = self.task_options(config)
        self.add(config, run, prepare_data(config, folds), folds, options)

    def add(self, config: dict, run: RunDir, data: PreparedData, folds: list[str] | None, options: dict) -> None:
        all_folds, chosen = run_folds(config, data, folds)
        # The report reads the clips' records, not their frames: freed, so a comparison's runs fit in memory.
        self.pending.append(PendingRun(run, replace(data, arrays=[]), all_folds,
                                       fold_tasks(config, run, all_folds, chosen), options))

    def task_options(self, config: dict) -> dict:
        """Ray's options for a task of this config; a cluster that can never run it is a UserError."""
        threads = config["train"]["threads"]
        if threads is None:
            raise UserError("train.threads: set it for --executor ray (e.g. --set train.threads=4): each fold "
                            "task takes that many torch threads and Ray CPUs; null (every core of the machine) "
                            "cannot be reserved, and a local run gives the same numbers with the same count")
        self.connect()
        largest = max(node["Resources"].get("CPU", 0) for node in self.ray.nodes() if node["Alive"])
        if threads > largest:
            raise UserError(f"train.threads={threads}: no Ray node has that many CPUs (the largest has "
                            f"{largest:g}); lower train.threads")
        return {"num_cpus": threads, "num_gpus": task_gpus(config, self.ray.cluster_resources().get("GPU", 0)),
                "max_retries": RETRIES, "retry_exceptions": False,
                "runtime_env": {"env_vars": TASK_ENVIRONMENT}}

    def connect(self) -> None:
        """Join the cluster at the address, or start one on this machine (with its every core);
        a session already connected (a notebook's, the tests') is used as it is."""
        if self.ray.is_initialized():
            return
        try:
            self.ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, SystemExit) as error:    # Ray exits when no cluster answers at host:port
            raise UserError(f"--ray-address {self.address}: cannot connect to a Ray cluster there "
                            f"({' '.join(str(error).split())})") from None
        self.started_ray = True

    def finish(self) -> list[dict | None]:
        """Train every pending fold as a task, then write the report of each run with no fold missing."""
        run_tasks(self.ray, [Task(pending, folds) for pending in self.pending for folds in pending.tasks],
                  common_folder([pending.run.path for pending in self.pending]))
        return [None if unfinished(p.run, p.folds) else pooled_report(p.run, p.data, p.folds, {})
                for p in self.pending]


def ray_module():
    """Ray, imported only here: a local run needs no Ray."""
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'mer3d[distributed]'") from None
    return ray


def task_gpus(config: dict, cluster_gpus: float) -> int:
    """One GPU per task for train.device=cuda, and for auto where the cluster has GPUs (as a local
    run on a GPU machine uses one); none for the SVM baseline, which never uses one."""
    device = config["train"]["device"]
    if device == "cuda" and not cluster_gpus:
        raise UserError("train.device=cuda but the Ray cluster has no GPU")
    uses_gpu = device == "cuda" or (device == "auto" and cluster_gpus > 0)
    return int(uses_gpu and config["model"]["name"] != CLASSICAL)


def fold_tasks(config: dict, run: RunDir, all_folds: list[Fold], chosen: set[str] | None) -> list[tuple[str, ...]]:
    """The folds each task trains: every chosen fold without a result, and ``final`` without its
    weights, one task each; an ``lbptop-svm`` run's folds all in one task, which computes the
    features once, as a local run does."""
    names = missing_folds(run, [f for f in all_folds if chosen is None or f.name in chosen])
    if has_final_model(config) and (chosen is None or FINAL_FOLD in chosen) and not run.weights(FINAL_FOLD).is_file():
        names.append(FINAL_FOLD)
    if config["model"]["name"] == CLASSICAL:
        return [tuple(names)] if names else []
    return [(name,) for name in names]


@dataclass(frozen=True)
class Task:
    pending: PendingRun
    folds: tuple[str, ...]

    @property
    def marker(self) -> Path:
        return worker_marker(self.pending.run, self.folds)

    def label(self, root: Path | None) -> str:
        """The task's folds, after its run's path below ``root`` where several runs train together."""
        what = self.folds[0] if len(self.folds) == 1 else f"{CLASSICAL} ({len(self.folds)} folds)"
        return f"{self.pending.run.path.resolve().relative_to(root)}/{what}" if root else what


def worker_marker(run: RunDir, folds: tuple[str, ...]) -> Path:
    """Where a running task says which worker runs it (its node and pid); gone once it is done."""
    return run.fold_dir(folds[0]) / "worker.json"


def common_folder(paths: list[Path]) -> Path | None:
    """The folder holding several runs (None for one run, whose folds need no run name)."""
    return Path(os.path.commonpath([p.resolve() for p in paths])) if len(paths) > 1 else None


def fold_task(run_path: str, folds: list[str], cwd: str) -> dict:
    """One Ray task: train ``folds`` of the run through the local resume path, from their
    checkpoints when present, without its report; says where it ran and for how long."""
    import ray

    logging.basicConfig(level=logging.INFO, format="mer3d: %(message)s")  # fold logs reach the driver's console
    began = time.perf_counter()
    run = RunDir(Path(run_path))
    worker = {"folds": folds, "node": ray.util.get_node_ip_address(), "pid": os.getpid()}
    require_shared(Path(cwd), worker["node"])
    os.chdir(cwd)   # a config's relative paths (dataset.root, data.cache_dir) are the driver's
    require_shared(run.config, worker["node"])
    marker = worker_marker(run, tuple(folds))
    run.write_json(marker, worker)
    try:
        resume(run_path, folds=folds, pool=False)
    finally:
        marker.unlink(missing_ok=True)
    return {**worker, "seconds": time.perf_counter() - began}


def require_shared(path: Path, node: str) -> None:
    """Results travel through the run folder: a worker that does not see it (or the driver's
    working directory) cannot train a fold of it."""
    if not path.exists():
        raise UserError(f"{path}: not found on Ray worker {node}; the run folder, dataset.root, data.cache_dir "
                        f"and the working directory must be on storage every worker sees, at the same path")


def run_tasks(ray, tasks: list[Task], root: Path | None) -> None:
    """Submit every task, wait for all with a progress bar, and log who ran each; the first that
    fails ends the wait with its error, and the others are cancelled."""
    if not tasks:
        return
    remote = ray.remote(fold_task)
    refs = {}
    for task in tasks:
        task.marker.unlink(missing_ok=True)    # left by a task of an earlier, killed driver: not running now
        refs[remote.options(**task.pending.options).remote(str(task.pending.run.path.resolve()), list(task.folds),
                                                           os.getcwd())] = task
    try:
        with logging_redirect_tqdm(), tqdm(total=len(tasks), desc="folds", unit="fold", dynamic_ncols=True) as bar:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
                for ref in done:
                    label = refs[ref].label(root)
                    worker = task_result(ray, ref, label)
                    del refs[ref]    # only now: a failed task's marker is for cancel() to remove
                    log.info("%s: trained on %s (pid %d) in %.1f s", label, worker["node"], worker["pid"],
                             worker["seconds"])
                    bar.update()
                bar.set_postfix_str("running: " + ", ".join(t.label(root) for t in refs.values() if t.marker.is_file()))
    finally:
        cancel(ray, refs)


def task_result(ray, ref, label: str) -> dict:
    """What a finished task returned. A task that raised raises its own error again (a UserError
    stays one line), not Ray's wrapper of it; one whose worker died once more than Ray retries it is
    a one-line UserError."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        raise error.cause from None
    except ray.exceptions.RayError as error:
        raise UserError(f"{label}: Ray gave up on it ({str(error).strip().splitlines()[0]}; a task whose worker "
                        f"dies is retried {RETRIES} times); 'mer3d train --resume RUN --executor ray' (or the same "
                        f"'mer3d compare') continues from its checkpoint") from None


def cancel(ray, refs: dict) -> None:
    """Stop the tasks not done (a fold's checkpoints are written atomically, so a later resume
    continues from them) and collect their outcome, which Ray would otherwise print as an unhandled
    error."""
    for ref in refs:
        ray.cancel(ref, force=True)
    for ref, task in refs.items():
        try:
            ray.get(ref, timeout=30)
        except ray.exceptions.RayError:
            pass
        task.marker.unlink(missing_ok=True)    # its worker was killed before it could
