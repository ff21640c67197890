"""Cache entries carry a checksum: an entry damaged on disk (truncated, a flipped bit, emptied, not
an array) is noticed on load, rebuilt with a warning naming it, and never used."""
import io
import logging

import cv2
import numpy as np
import pytest

import mer3d.data.cache as cache_module
from mer3d.atomic import TRAILER_SIZE, checksummed
from mer3d.data.cache import ClipCache, read_entry, write_entry
from mer3d.data.motion_cache import MotionCache
from mer3d.data.records import ClipRecord


def write_clip(folder, count=5, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for t in range(count):
        image = cv2.GaussianBlur(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), (7, 7), 0)
        path = folder / f"img{10 + t}.jpg"
        assert cv2.imwrite(str(path), image)
        paths.append(path)
    return ClipRecord("test", "sub01", folder.name, "happiness", frames=tuple(paths),
                      frame_numbers=tuple(range(10, 10 + count)))


@pytest.fixture
def record(tmp_path):
    return write_clip(tmp_path / "clip1")


def flip_bit(data: bytes, at: int) -> bytes:
    data = bytearray(data)
    data[at] ^= 0x04
    return bytes(data)


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


DAMAGE = {
    "zero bytes": lambda data: b"",
    "truncated to the header": lambda data: data[:100],
    "truncated by one byte": lambda data: data[:-1],
    "trailer cut off (an entry of the old format)": lambda data: data[:-TRAILER_SIZE],
    "bit flipped in the npy header": lambda data: flip_bit(data, 20),
    "bit flipped in the array": lambda data: flip_bit(data, (len(data) - TRAILER_SIZE) // 2),
    "bit flipped in the last array byte": lambda data: flip_bit(data, len(data) - TRAILER_SIZE - 1),
    "bit flipped in the digest": lambda data: flip_bit(data, len(data) - 1),
    "not an npy file": lambda data: b"<html>404 not found</html>" * 40,
    "another array without a checksum": lambda data: npy_bytes(np.zeros((2, 2), np.uint8)),
    "checksum right, content not an npy": lambda data: checksummed(b"\x93NUMPY but not really" * 10),
    "checksum right, a pickled object": lambda data: checksummed(npy_bytes(np.array([{"a": 1}], dtype=object))),
}


def warnings_about(caplog, path) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and f"{path}: damaged cache entry" in r.getMessage()]


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_frames_entry_is_rebuilt_with_a_warning(tmp_path, record, damage, caplog, monkeypatch):
    cache = ClipCache(tmp_path / "cache", size=16)
    clip = cache.load(record)
    entry = cache.entry_path(record)
    good = entry.read_bytes()
    entry.write_bytes(DAMAGE[damage](good))
    decoded = []
    real_read = cache_module._read_frame
    monkeypatch.setattr(cache_module, "_read_frame", lambda path: decoded.append(path) or real_read(path))
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        again = ClipCache(tmp_path / "cache", size=16).load(record)
    assert np.array_equal(again, clip) and again.dtype == np.uint8
    assert len(decoded) == 5                              # rebuilt from the frames, not read from the entry
    assert len(warnings_about(caplog, entry)) == 1
    assert entry.read_bytes() == good                     # the rebuilt entry is whole again
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]   # no temporary file left


@pytest.mark.parametrize("kind", ["flow", "apex-flow", "apex"])
@pytest.mark.parametrize("damage", ["zero bytes", "truncated by one byte", "bit flipped in the array",
                                    "not an npy file", "checksum right, content not an npy"])
def test_a_damaged_motion_entry_is_recomputed_with_a_warning(tmp_path, kind, damage, caplog):
    records = [write_clip(tmp_path / f"clip{i}", seed=i) for i in range(2)]
    cache = MotionCache(ClipCache(tmp_path / "cache", size=32), 16, "dis", workers=1)

    def entries(motion):
        if kind == "apex":
            return [np.array([apex]) for apex in motion.estimated_apexes(records, progress=False)]
        return motion.flows(records, progress=False) if kind == "flow" else \
            motion.apex_flows(records, [2, 3], progress=False)

    expected = entries(cache)
    entry = cache.entry_path(records[1], kind, None if kind != "apex-flow" else 3)
    good = entry.read_bytes()
    entry.write_bytes(DAMAGE[damage](good))
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        again = entries(MotionCache(ClipCache(tmp_path / "cache", size=32), 16, "dis", workers=1))
    assert all(np.array_equal(a, b) for a, b in zip(again, expected))
    assert len(warnings_about(caplog, entry)) == 1
    assert entry.read_bytes() == good


def test_a_damaged_frames_entry_under_a_motion_entry_is_rebuilt(tmp_path, caplog):
    record = write_clip(tmp_path / "clip0")
    frames = ClipCache(tmp_path / "cache", size=32)
    MotionCache(frames, 16, "dis", workers=1).flows([record], progress=False)
    frames_entry = frames.entry_path(record)
    frames_entry.write_bytes(frames_entry.read_bytes()[:-3])
    # the motion entry is whole: no need to read the frames
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        MotionCache(ClipCache(tmp_path / "cache", size=32), 16, "dis", workers=1).flows([record], progress=False)
    assert not caplog.records
    # another flow setting needs the frames again: the damaged entry is rebuilt, not used
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        MotionCache(ClipCache(tmp_path / "cache", size=32), 16, "farneback", workers=1).flows([record], progress=False)
    assert len(warnings_about(caplog, frames_entry)) == 1 and read_entry(frames_entry) is not None


def test_an_entry_is_the_npy_bytes_then_a_checksum_that_np_load_ignores(tmp_path):
    clip = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    path = tmp_path / "entry.npy"
    write_entry(path, clip)
    data = path.read_bytes()
    assert data == checksummed(npy_bytes(clip)) and len(data) == len(npy_bytes(clip)) + TRAILER_SIZE
    assert np.array_equal(np.load(path), clip) and np.array_equal(read_entry(path), clip)
    assert read_entry(tmp_path / "missing.npy") is None
