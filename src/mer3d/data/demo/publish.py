"""Building a demo set atomically: in a temporary sibling folder, renamed into place when done.

A killed run never leaves a half dataset behind, a finished set with the same parameters is reused,
and only folders holding a demo set (or nothing) are ever replaced.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Callable

from mer3d.errors import UserError

# Bump when the generators' output changes, so an existing demo set is regenerated.
DEMO_VERSION = 1
# Written last: a folder with it is a finished demo set; its "parameters" are what made it.
SUMMARY = "demo.json"


def build(out_dir: str | Path, parameters: dict, write: Callable[[Path], None]) -> Path:
    """``out_dir`` holding what ``write(folder)`` writes; ``write`` must finish with
    ``write_summary`` recording ``parameters``.

    A complete set made with the same parameters is returned as it is; an outdated demo set is
    replaced; any other non-empty folder is refused.
    """
    out_dir = Path(out_dir)
    if is_complete(out_dir, parameters):
        return out_dir
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / SUMMARY).exists():
        raise UserError(f"{out_dir} exists and is not a mer3d demo dataset; choose another folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}-{secrets.token_hex(3)}")
    try:
        write(tmp)
        # Another process may have finished the same set meanwhile; keep theirs.
        if not is_complete(out_dir, parameters):
            publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def write_summary(root: Path, summary: dict) -> None:
    """The set's SUMMARY, ``summary["parameters"]`` included; the last file a generator writes."""
    (root / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")


def is_complete(out_dir: Path, parameters: dict) -> bool:
    """True when ``out_dir`` holds a finished demo set made with ``parameters``."""
    try:
        return json.loads((out_dir / SUMMARY).read_text())["parameters"] == parameters
    except (OSError, ValueError, KeyError, TypeError):
        return False


def remove_stale_temporaries(out_dir: Path) -> None:
    """Delete what killed generations left behind (temporary folders of processes now gone)."""
    for leftover in out_dir.parent.glob(f"{out_dir.name}.tmp-*"):
        pid = leftover.name.rsplit(".tmp-", 1)[1].split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(tmp: Path, out_dir: Path) -> None:
    """Move the finished ``tmp`` onto ``out_dir``, replacing an outdated demo set or empty folder."""
    if out_dir.exists():
        outdated = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}-old-{secrets.token_hex(3)}")
        out_dir.rename(outdated)
        tmp.rename(out_dir)
        shutil.rmtree(outdated, ignore_errors=True)
    else:
        tmp.rename(out_dir)

