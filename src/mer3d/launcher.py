"""Process-level settings that must exist before Python starts: the C allocator.

With glibc's default malloc every training step returns large activation buffers to the OS and
faults them back in (about 1.4 M page faults and 2.5 s of kernel time per step on these CPUs,
shared/notes/cpu-performance.md). ``MALLOC_MMAP_MAX_=0`` keeps them in the heap; tcmalloc, when the
system has it, does the same with less memory. glibc reads both only at start-up, so the console
command re-executes itself once with them set."""
from __future__ import annotations

import os
import sys
from pathlib import Path

MARKER = "MER3D_ALLOCATOR"
TCMALLOC_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib64/libtcmalloc_minimal.so.4",
)

# glibc's malloc keeping freed buffers in its heap instead of returning them to the OS.
GLIBC_ALLOCATOR = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}


def allocator_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment to re-execute with: tcmalloc preloaded if installed, else glibc tuned."""
    new = dict(env)
    tcmalloc = next((p for p in TCMALLOC_CANDIDATES if Path(p).is_file()), None)
    if tcmalloc and "tcmalloc" not in env.get("LD_PRELOAD", ""):
        new["LD_PRELOAD"] = ":".join(filter(None, [tcmalloc, env.get("LD_PRELOAD")]))
        new[MARKER] = "tcmalloc"
    else:
        for name, value in GLIBC_ALLOCATOR.items():
            new.setdefault(name, value)
        new[MARKER] = "glibc-no-mmap"
    return new


def reexec_with_allocator(argv: list[str]) -> None:
    """Replace this process with one that has the allocator settings (no-op once they are set,
    or when MER3D_NO_REEXEC is set)."""
    if os.environ.get(MARKER) or os.environ.get("MER3D_NO_REEXEC"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "mer3d", *argv], allocator_environment(dict(os.environ)))
