"""MotionCache: flow fields and estimated apexes of clips, computed once and kept on disk."""
import re

import cv2
import numpy as np
import pytest

import mer3d.data.motion_cache as motion_module
from mer3d.data.cache import ClipCache
from mer3d.data.flow import estimate_apex
from mer3d.data.magnify import Magnification
from mer3d.data.motion_cache import MotionCache, motion_entry
from mer3d.data.records import ClipRecord
from mer3d.errors import UserError

WRITTEN = 48          # px of the JPEG frames on disk
FRAMES_SIZE = 32      # px of the gray frames the flow is computed at
SIZE = 16             # px of the stored flow


def write_moving_clip(folder, count=5, speed=(1.0, 0.0), seed=0):
    """Colour JPEGs (WRITTEN px) of a smooth texture moving ``speed`` px per frame; paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = WRITTEN + 16
    texture = cv2.GaussianBlur(rng.integers(0, 256, (n, n, 3), dtype=np.uint8), (0, 0), 2.0)
    texture = cv2.normalize(texture, None, 20, 235, cv2.NORM_MINMAX)
    paths = []
    for t in range(count):
        matrix = np.float32([[1, 0, t * speed[0]], [0, 1, t * speed[1]]])
        frame = cv2.warpAffine(texture, matrix, (n, n), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        path = folder / f"img{10 + t}.jpg"
        assert cv2.imwrite(str(path), frame[8:8 + WRITTEN, 8:8 + WRITTEN], [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    return paths


def record_for(paths, name) -> ClipRecord:
    numbers = tuple(int(p.stem[3:]) for p in paths)
    return ClipRecord("test", "sub01", name, "happiness", frames=tuple(paths), frame_numbers=numbers)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Three clips of 5, 6 and 4 frames, moving right, down-left and up."""
    root = tmp_path_factory.mktemp("clips")
    motions = [(1.0, 0.0), (-0.75, 0.75), (0.0, -1.0)]
    return [record_for(write_moving_clip(root / f"c{i}", count=count, speed=speed, seed=i), f"c{i}")
            for i, (count, speed) in enumerate(zip((5, 6, 4), motions))]


def motion(cache_dir, size=SIZE, method="tvl1", reference="onset", frames_size=FRAMES_SIZE, magnify=None,
           workers=1) -> MotionCache:
    return MotionCache(ClipCache(cache_dir, size=frames_size, channels=1, magnify=magnify), size, method, reference,
                       workers)


@pytest.fixture
def entries(monkeypatch):
    """Counts the entries actually computed (in this process: workers=1)."""
    calls = []

    def counting(kind, *args, **kwargs):
        calls.append(kind)
        return motion_entry(kind, *args, **kwargs)

    monkeypatch.setattr(motion_module, "motion_entry", counting)
    return calls


def gray(cache: MotionCache, record) -> np.ndarray:
    return cache.frames.load(record)[..., 0]


def assert_only_entries(cache_dir) -> None:
    """Every file of the cache folder is a finished entry (of the frames or the motion cache): no
    temporary file is left behind."""
    files = [path.relative_to(cache_dir) for path in cache_dir.rglob("*") if path.is_file()]
    assert any(path.parts[0] == "motion" for path in files)
    assert all(path.parts[0] in ("clips", "motion") and re.fullmatch(r"[0-9a-f]{64}\.npy", path.parts[1])
               and len(path.parts) == 2 for path in files), files


# ---------------------------------------------------------------- what the entries hold

def test_flows_are_float16_fields_with_a_zero_onset(tmp_path, records, entries):
    cache = motion(tmp_path)
    flows = cache.flows(records, progress=False)
    assert [flow.shape for flow in flows] == [(5, SIZE, SIZE, 2), (6, SIZE, SIZE, 2), (4, SIZE, SIZE, 2)]
    assert all(flow.dtype == np.float16 for flow in flows)
    assert all(not flow[0].any() and flow[1:].any() for flow in flows)
    assert entries == ["flow"] * 3
    # The stored fields are the computation on the clip's cached gray frames.
    for flow, record in zip(flows, records):
        assert np.array_equal(flow, motion_entry("flow", gray(cache, record), "tvl1", "onset", SIZE))
    assert_only_entries(tmp_path)


def test_flow_vectors_are_in_pixels_of_the_stored_size(tmp_path, records):
    """The clips move 1 px per frame at 48 px (right; down-left by 0.75 px each way; up), so a third
    of that at 16 px."""
    flows = motion(tmp_path).flows(records, progress=False)
    for flow, speed in zip(flows, [(1.0, 0.0), (-0.75, 0.75), (0.0, -1.0)]):
        centre = flow.astype(np.float32)[:, 4:12, 4:12].reshape(len(flow), -1, 2).mean(axis=1)
        expected = np.arange(len(flow))[:, None] * np.array(speed) / 3
        # Measured within 0.025 px; 0.1 px allows for JPEG and two resizings, while a missing
        # rescaling (2/3 or 1 px per frame) or swapped u, v would be off by 0.5 px or more.
        assert np.abs(centre - expected).max() < 0.1, (speed, centre)


def test_previous_reference_is_frame_to_frame(tmp_path, records):
    onset = motion(tmp_path).flows(records[:1], progress=False)[0].astype(np.float32)
    previous = motion(tmp_path, reference="previous").flows(records[:1], progress=False)[0].astype(np.float32)
    assert not previous[0].any()
    u_onset, u_previous = onset[1:, 4:12, 4:12, 0].mean(axis=(1, 2)), previous[1:, 4:12, 4:12, 0].mean(axis=(1, 2))
    # 1/3 px per frame at 16 px (above; measured within 0.033 px for both references): onset-referenced
    # u grows, frame-to-frame u does not.
    assert np.allclose(u_previous, 1 / 3, atol=0.1) and np.allclose(u_onset, np.arange(1, 5) / 3, atol=0.1)


def test_apex_flows_are_the_onset_to_apex_flow(tmp_path, records, entries):
    cache = motion(tmp_path)
    apexes = [2, 5, 1]
    fields = cache.apex_flows(records, apexes, progress=False)
    assert entries == ["apex-flow"] * 3
    for field, record, apex in zip(fields, records, apexes):
        assert field.shape == (1, SIZE, SIZE, 2) and field.dtype == np.float16
        assert np.array_equal(field, motion_entry("apex-flow", gray(cache, record), "tvl1", "onset", SIZE, apex))
    # The onset-to-apex field of clip 0 is its onset-referenced flow at the apex frame.
    flow = cache.flows(records[:1], progress=False)[0]
    assert np.array_equal(fields[0][0], flow[2])
    assert_only_entries(tmp_path)


def test_estimated_apexes_are_positions_from_the_frames(tmp_path, records, entries):
    cache = motion(tmp_path)
    apexes = cache.estimated_apexes(records, progress=False)
    assert apexes == [estimate_apex(gray(cache, record)) for record in records]
    assert all(type(apex) is int and 0 <= apex < len(gray(cache, r)) for apex, r in zip(apexes, records))
    entry = np.load(cache.entry_path(records[0], "apex"))
    assert entry.dtype == np.int32 and entry.shape == (1,)
    assert entries == ["apex"] * 3


# ---------------------------------------------------------------- reuse

def test_a_new_instance_reads_the_entries_without_recomputing(tmp_path, records, entries):
    first = motion(tmp_path).flows(records, progress=False)
    first_apex_flows = motion(tmp_path).apex_flows(records, [1, 1, 1], progress=False)
    first_apexes = motion(tmp_path).estimated_apexes(records, progress=False)
    assert len(entries) == 9
    stamps = {path: path.stat().st_mtime_ns for path in (tmp_path / "motion").iterdir()}
    again = motion(tmp_path)                  # as in a new run
    assert all(np.array_equal(a, b) for a, b in zip(again.flows(records, progress=False), first))
    assert all(np.array_equal(a, b) for a, b in zip(again.apex_flows(records, [1, 1, 1], progress=False),
                                                    first_apex_flows))
    assert again.estimated_apexes(records, progress=False) == first_apexes
    assert len(entries) == 9
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "motion").iterdir()} == stamps


def test_only_missing_entries_are_computed(tmp_path, records, entries):
    motion(tmp_path).flows(records[:2], progress=False)
    motion(tmp_path).flows(records, progress=False)
    assert entries == ["flow"] * 3


# ---------------------------------------------------------------- entry names

def test_every_setting_that_changes_a_flow_changes_its_entry(tmp_path, records):
    record = records[0]
    base = motion(tmp_path).entry_path(record, "flow")
    assert motion(tmp_path).entry_path(record, "flow") == base          # same settings, same entry
    variants = {
        "method": motion(tmp_path, method="dis"),
        "reference": motion(tmp_path, reference="previous"),
        "size": motion(tmp_path, size=24),
        "flow_size": motion(tmp_path, frames_size=48),
        "magnify": motion(tmp_path, magnify=Magnification(alpha=10, low_hz=0.5, high_hz=8)),
    }
    paths = {name: cache.entry_path(record, "flow") for name, cache in variants.items()}
    assert base not in paths.values() and len(set(paths.values())) == len(paths), paths
    assert motion(tmp_path).entry_path(records[1], "flow") != base    # another clip
    assert all(path.parent == tmp_path / "motion" for path in [base, *paths.values()])


def test_apex_flow_entries_follow_the_apex_method_size_and_frames(tmp_path, records):
    record = records[0]
    base = motion(tmp_path).entry_path(record, "apex-flow", 2)
    assert motion(tmp_path).entry_path(record, "apex-flow", 2) == base
    # An onset-to-apex flow has no reference setting: both references share it.
    assert motion(tmp_path, reference="previous").entry_path(record, "apex-flow", 2) == base
    others = [
        motion(tmp_path).entry_path(record, "apex-flow", 3),
        motion(tmp_path, method="farneback").entry_path(record, "apex-flow", 2),
        motion(tmp_path, size=24).entry_path(record, "apex-flow", 2),
        motion(tmp_path, frames_size=48).entry_path(record, "apex-flow", 2),
        motion(tmp_path, magnify=Magnification(alpha=10, low_hz=0.5, high_hz=8)).entry_path(record, "apex-flow", 2),
        motion(tmp_path).entry_path(record, "flow"),
        motion(tmp_path).entry_path(record, "apex"),
    ]
    assert len({base, *others}) == len(others) + 1


def test_an_estimated_apex_depends_on_the_frames_only(tmp_path, records):
    record = records[0]
    base = motion(tmp_path).entry_path(record, "apex")
    for cache in (motion(tmp_path, method="dis"), motion(tmp_path, size=24), motion(tmp_path, reference="previous")):
        assert cache.entry_path(record, "apex") == base
    assert motion(tmp_path, frames_size=48).entry_path(record, "apex") != base   # other frames, other apex
    assert motion(tmp_path).entry_path(records[1], "apex") != base


def test_settings_are_checked(tmp_path):
    with pytest.raises(UserError, match="data.flow must be one of"):
        motion(tmp_path, method="horn-schunck")
    with pytest.raises(UserError, match="data.flow_reference must be one of"):
        motion(tmp_path, reference="apex")
    with pytest.raises(ValueError, match="gray frames"):
        MotionCache(ClipCache(tmp_path, size=FRAMES_SIZE, channels=3), SIZE)


# ---------------------------------------------------------------- worker processes

def test_worker_processes_give_the_same_entries_as_one_process(tmp_path, records, monkeypatch):
    # One pool of 2 spawned processes (under 2 s); each computes whole entries, so the arrays must be
    # identical to the in-process ones (TV-L1 is deterministic).
    pools = []

    class RecordingPool(motion_module.ProcessPoolExecutor):
        def __init__(self, workers, *args, **kwargs):
            pools.append(workers)
            super().__init__(workers, *args, **kwargs)

    monkeypatch.setattr(motion_module, "ProcessPoolExecutor", RecordingPool)
    alone = motion(tmp_path / "one", workers=1).flows(records, progress=False)
    assert pools == []
    pooled = motion(tmp_path / "two", workers=2).flows(records, progress=False)
    assert pools == [2]                       # the process pool path was taken
    assert len(pooled) == 3
    assert all(a.dtype == b.dtype == np.float16 and np.array_equal(a, b) for a, b in zip(alone, pooled))
    assert_only_entries(tmp_path / "two")
    assert len(list((tmp_path / "two" / "motion").iterdir())) == 3
