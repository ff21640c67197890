"""prepare_inputs: each clip's stored data for the chosen representation and the apex its test
window is centred on, from a config's ``data`` section."""
import cv2
import numpy as np
import pytest

from fixtures import bump_motion, corrupt_image
from mer3d.config import load_config
from mer3d.data.inputs import motion_cache, overall_apex_source, prepare_inputs
from mer3d.data.records import ClipRecord, Problem

SIZE = 64
PAD = 16


def face_texture(seed: int) -> np.ndarray:
    """float32 (SIZE + 2 PAD)^2: a bright ellipse on blurred noise."""
    n = SIZE + 2 * PAD
    noise = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, (n, n)).astype(np.float32), (0, 0), 2.0)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    c = (n - 1) / 2
    return 90 + 60 * ((((x - c) / 26) ** 2 + ((y - c) / 32) ** 2) < 1) + 30 * noise / noise.std()


def write_clip(folder, first: int, count: int, peak: int, seed: int) -> list:
    """JPEG frames ``img<first>..`` of a face-like texture whose lower-right region moves out and
    back, furthest at position ``peak`` of the clip (the motion peak, known by construction)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = face_texture(seed)
    n = base.shape[0]
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    paths = []
    for t, moved_by in enumerate(bump_motion(n, count, peak)):
        map_x, map_y = x - moved_by, y + moved_by
        moved = cv2.remap(base, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        frame = np.clip(np.rint(moved[PAD:PAD + SIZE, PAD:PAD + SIZE]), 0, 255).astype(np.uint8)
        path = folder / f"img{first + t}.jpg"
        assert cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    return paths


def clip_record(root, name, first, count, peak, apex, seed, row) -> ClipRecord:
    paths = write_clip(root / name, first, count, peak, seed)
    return ClipRecord("test", "sub01", name, "happiness", frames=tuple(paths),
                      frame_numbers=tuple(range(first, first + count)), onset=first, apex=apex,
                      offset=first + count - 1, source="sheet.xlsx", row=row)


# (name, first frame number, frames, motion peak position, annotated apex frame number or None)
CLIPS = [
    ("annotated", 20, 8, 5, 22),     # the sheet says position 2; the motion peaks at 5
    ("unannotated", 40, 9, 3, None),  # no apex in the sheet ('/' in CASME II)
    ("late", 60, 6, 4, 61),          # the sheet says position 1; the motion peaks at 4
]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return [clip_record(root, name, first, count, peak, apex, seed, row=seed + 2)
            for seed, (name, first, count, peak, apex) in enumerate(CLIPS)]


def data_settings(cache_dir, *overrides) -> dict:
    # One worker: no process pool to spawn for a few tiny clips.
    return load_config(overrides=[f"data.cache_dir={cache_dir}", f"data.size={SIZE}", "data.workers=1",
                                  *overrides])["data"]


# ---------------------------------------------------------------- what is stored

def test_gray_representation_returns_the_uint8_frames(tmp_path, records):
    inputs = prepare_inputs(records, data_settings(tmp_path, "data.representation=gray"), progress=False)
    assert inputs.records == records and inputs.skipped == []
    assert [a.shape for a in inputs.arrays] == [(count, SIZE, SIZE, 1) for _, _, count, _, _ in CLIPS]
    assert all(a.dtype == np.uint8 for a in inputs.arrays)
    # The frames are the clip's own: the first one matches its JPEG, read back as gray.
    first = cv2.imread(str(records[0].frames[0]), cv2.IMREAD_GRAYSCALE)
    assert np.abs(inputs.arrays[0][0, :, :, 0].astype(int) - first).max() <= 2   # gray conversion rounding


def test_flow_representations_return_float16_flows(tmp_path, records):
    settings = ["data.size=32", "data.apex=estimated"]       # small flows, cheap TV-L1
    flow = prepare_inputs(records, data_settings(tmp_path, "data.representation=flow", *settings), progress=False)
    assert [a.shape for a in flow.arrays] == [(count, 32, 32, 2) for _, _, count, _, _ in CLIPS]
    assert all(a.dtype == np.float16 and not a[0].any() and a[1:].any() for a in flow.arrays)
    apex = prepare_inputs(records, data_settings(tmp_path, "data.representation=apex-flow", *settings),
                          progress=False)
    assert apex.apex == flow.apex
    assert all(a.shape == (1, 32, 32, 2) and a.dtype == np.float16 for a in apex.arrays)
    # One image per clip: the onset-referenced flow of its apex frame.
    assert all(np.array_equal(a[0], f[i]) for a, f, i in zip(apex.arrays, flow.arrays, apex.apex))


# ---------------------------------------------------------------- apexes

def test_annotated_apexes_are_kept_and_missing_ones_estimated(tmp_path, records):
    inputs = prepare_inputs(records, data_settings(tmp_path, "data.apex=annotated"), progress=False)
    # Positions in the clips: 22 - 20 = 2 and 61 - 60 = 1 from the sheet, not the motion peaks (5, 4);
    # the unannotated clip gets the frame that moved most, position 3 by construction.
    assert inputs.apex == [2, 3, 1]
    assert inputs.apex_sources == ["annotated", "estimated", "annotated"]
    assert overall_apex_source(inputs.apex_sources) == "mixed"


def test_estimated_apexes_are_the_motion_peaks(tmp_path, records):
    inputs = prepare_inputs(records, data_settings(tmp_path, "data.apex=estimated"), progress=False)
    assert inputs.apex == [peak for _, _, _, peak, _ in CLIPS]
    assert inputs.apex_sources == ["estimated"] * 3
    assert overall_apex_source(inputs.apex_sources) == "estimated"


def test_middle_apexes_are_the_middle_frames(tmp_path, records):
    inputs = prepare_inputs(records, data_settings(tmp_path, "data.apex=middle"), progress=False)
    assert inputs.apex == [3, 4, 2]          # (T - 1) // 2 for 8, 9 and 6 frames
    assert inputs.apex_sources == ["middle"] * 3
    assert overall_apex_source(inputs.apex_sources) == "middle"
    # Nothing was estimated: no motion entries were made.
    assert not (tmp_path / "motion").exists()


def test_an_apex_outside_the_clip_counts_as_unannotated(tmp_path, records):
    outside = ClipRecord(**{**records[0].__dict__, "name": "outside", "apex": 99})
    inputs = prepare_inputs([outside], data_settings(tmp_path), progress=False)
    assert inputs.apex == [5] and inputs.apex_sources == ["estimated"]


@pytest.mark.parametrize("sources, overall", [
    ([], "none"),
    (["annotated"], "annotated"),
    (["estimated", "estimated"], "estimated"),
    (["middle"] * 3, "middle"),
    (["annotated", "estimated", "annotated"], "mixed"),
])
def test_overall_apex_source(sources, overall):
    assert overall_apex_source(sources) == overall


def test_the_estimated_apex_comes_from_the_motion_cache(tmp_path, records):
    data = data_settings(tmp_path, "data.apex=estimated")
    prepare_inputs(records, data, progress=False)
    cache = motion_cache(data)
    assert all(cache.entry_path(record, "apex").exists() for record in records)


# ---------------------------------------------------------------- unreadable clips

@pytest.mark.parametrize("representation", ["gray", "flow"])
def test_a_clip_with_a_truncated_frame_is_skipped_and_named(tmp_path, records, representation):
    broken_paths = write_clip(tmp_path / "broken", 80, 6, 2, seed=9)
    corrupt_image(broken_paths[3])
    broken = ClipRecord("test", "sub02", "broken", "surprise", frames=tuple(broken_paths),
                        frame_numbers=tuple(range(80, 86)), apex=82, source="sheet.xlsx", row=7)
    clips = [records[0], broken, records[2]]
    data = data_settings(tmp_path / "cache", f"data.representation={representation}", "data.size=32")
    inputs = prepare_inputs(clips, data, progress=False)
    assert inputs.records == [records[0], records[2]]
    assert len(inputs.arrays) == len(inputs.apex) == len(inputs.apex_sources) == 2
    assert [len(a) for a in inputs.arrays] == [8, 6]
    assert inputs.apex == [2, 1]
    assert len(inputs.skipped) == 1
    problem = inputs.skipped[0]
    assert isinstance(problem, Problem)
    assert (problem.path, problem.row) == ("sheet.xlsx", 7)
    assert "skipped" in problem.message and "test/sub02/broken" in problem.message
    assert str(broken_paths[3]) in problem.message             # the unreadable file itself
    assert str(problem).startswith("sheet.xlsx row 7: ")


# ---------------------------------------------------------------- magnification

MAGNIFY = "data.magnify={alpha: 10, low_hz: 5, high_hz: 40}"


def test_magnification_changes_the_frames_before_the_representation(tmp_path, records):
    import dataclasses

    at_200_fps = [dataclasses.replace(record, fps=200.0) for record in records]
    plain = prepare_inputs(at_200_fps, data_settings(tmp_path, "data.representation=gray"), progress=False)
    magnified = prepare_inputs(at_200_fps, data_settings(tmp_path, "data.representation=gray", MAGNIFY),
                               progress=False)
    assert [a.shape for a in magnified.arrays] == [a.shape for a in plain.arrays]
    # The onset-to-peak motion grows, so frames move further from the onset than without magnification.
    change = lambda arrays: sum(np.abs(a.astype(int) - a[:1]).mean() for a in arrays)
    assert change(magnified.arrays) > 1.2 * change(plain.arrays)


def test_magnification_needs_the_clips_frame_rate(tmp_path, records):
    from mer3d.errors import UserError

    with pytest.raises(UserError, match="data.magnify needs the clip's frame rate"):
        prepare_inputs(records, data_settings(tmp_path, "data.representation=gray", MAGNIFY), progress=False)
