"""Write files so that a crash or SIGKILL never leaves a half-written one behind, and a full disk
never leaves a damaged one: the previous file stays as it was and the error is one line naming the
file. ``checksummed``/``verified`` seal bytes with a digest, so damage done later (truncation, a
flipped bit) is detected when they are read back."""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UserError

# Errors of the storage rather than of the program: reported as one line naming the file.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})
# The trailer ``checksummed`` appends: a marker, then the BLAKE2b-256 digest of everything before it.
CHECKSUM_MARKER = b"MER3DSUM"
DIGEST_SIZE = 32
TRAILER_SIZE = len(CHECKSUM_MARKER) + DIGEST_SIZE


def storage_error(path: str | Path, error: OSError) -> UserError | None:
    """A one-line error for a write to ``path`` that the storage refused (full disk, quota,
    read-only file system, permissions); None for any other OSError."""
    if error.errno not in STORAGE_ERRNOS:
        return None
    reason = (error.strerror or os.strerror(error.errno)).lower()
    return UserError(f"{path}: cannot write ({reason}); any previous version of it is left as it was")


def _remove(tmp: str) -> None:
    try:
        Path(tmp).unlink(missing_ok=True)
    except OSError:
        pass


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The temporary file keeps ``path``'s suffix, so writers that pick a format by extension
    (matplotlib, cv2, numpy) behave as for the real name.

    An OSError of the storage (``STORAGE_ERRNOS``: no space left, quota, read-only, permissions)
    while the body writes or at the rename becomes a ``UserError`` naming ``path``; on any error the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
        os.close(fd)
    except OSError as error:
        friendly = storage_error(path, error)
        if friendly is None:
            raise
        raise friendly from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        _remove(tmp)
        friendly = storage_error(path, error) if isinstance(error, OSError) else None
        if friendly is None:
            raise
        raise friendly from None


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def checksummed(data: bytes) -> bytes:
    """``data`` followed by a trailer (``CHECKSUM_MARKER`` and the BLAKE2b-256 digest of ``data``)."""
    return data + CHECKSUM_MARKER + hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


class ChecksumWriter:
    """A binary file that hashes what is written through it; ``finish`` appends the trailer, so
    the file holds what ``checksummed`` would have made of those bytes (without holding them)."""

    def __init__(self, file):
        self.file = file
        self.digest = hashlib.blake2b(digest_size=DIGEST_SIZE)

    def write(self, data) -> int:
        self.digest.update(data)
        return self.file.write(data)

    def finish(self) -> None:
        self.file.write(CHECKSUM_MARKER + self.digest.digest())


class DamagedFile(ValueError):
    """Bytes whose checksum trailer is missing or does not match; the message says which."""


def verified(data: bytes) -> memoryview:
    """The bytes ``checksummed`` sealed, after checking the trailer (no copy); ``DamagedFile`` when
    the trailer is missing (truncated, empty, or not written by ``checksummed``) or the digest
    differs (changed after writing)."""
    if len(data) < TRAILER_SIZE or data[-TRAILER_SIZE:-DIGEST_SIZE] != CHECKSUM_MARKER:
        raise DamagedFile("no checksum at its end (truncated, empty or not written by mer3d)")
    body = memoryview(data)[:-TRAILER_SIZE]
    if hashlib.blake2b(body, digest_size=DIGEST_SIZE).digest() != data[-DIGEST_SIZE:]:
        raise DamagedFile("checksum mismatch (changed after it was written)")
    return body


def check_writable(path: str | Path, option: str) -> Path:
    """Refuse, before any long work, an output ``path`` that ``atomic_path`` could not write: a
    UserError naming ``option`` (e.g. ``--out``) and ``path`` when it is a folder or another
    non-regular file (a device such as /dev/null would be replaced), or when the nearest existing
    folder above it (missing ones are created on writing) is not a folder or is not writable.
    Creates nothing."""
    path = Path(path)
    where = f"{option} {path}" if option else str(path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):   # the folder checks below say why
        mode = None
    except OSError as error:
        raise UserError(f"{where}: cannot be written ({(error.strerror or type(error).__name__).lower()})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UserError(f"{where}: is a folder; give a file name")
    if mode is not None and not stat.S_ISREG(mode):
        raise UserError(f"{where}: exists and is not a regular file")
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{where}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{where}: folder {folder} is not writable")
    return path
