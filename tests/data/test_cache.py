import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import mer3d.data.cache as cache_module
from mer3d.config import load_config
from mer3d.data.cache import ClipCache, default_cache_dir, is_raw
from mer3d.data.preprocess import preprocess_frame
from mer3d.data.records import ClipRecord
from mer3d.errors import UserError
from mer3d.inference.faces import FaceBox


def write_frames(folder: Path, count=6, first_number=10, seed=0) -> list[Path]:
    """Small colour JPEGs (40 x 48) with distinct, smooth content."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for number in range(first_number, first_number + count):
        image = cv2.GaussianBlur(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), (7, 7), 0)
        path = folder / f"img{number}.jpg"
        assert cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def record_for(paths: list[Path], name="clip1") -> ClipRecord:
    numbers = tuple(int(p.stem[3:]) for p in paths)
    return ClipRecord("test", "sub01", name, "happiness", frames=tuple(paths), frame_numbers=numbers)


@pytest.fixture
def record(tmp_path):
    return record_for(write_frames(tmp_path / "frames"))


@pytest.fixture
def decodes(monkeypatch):
    """Counts the frames actually read from disk."""
    calls = []
    original = cache_module._read_frame

    def counting(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(cache_module, "_read_frame", counting)
    return calls


def test_preprocessing_is_the_papers_gray_and_resize(tmp_path, record):
    clip = ClipCache(tmp_path / "cache", size=16, channels=1).load(record)
    assert clip.shape == (6, 16, 16, 1) and clip.dtype == np.uint8
    expected = cv2.resize(
        cv2.cvtColor(cv2.imread(str(record.frames[2])), cv2.COLOR_BGR2GRAY), (16, 16), interpolation=cv2.INTER_AREA
    )
    assert np.array_equal(clip[2, :, :, 0], expected)


def test_colour_is_kept_in_rgb_order(tmp_path):
    path = tmp_path / "blue" / "img1.jpg"
    path.parent.mkdir()
    cv2.imwrite(str(path), np.full((20, 20, 3), (255, 0, 0), np.uint8))  # BGR: pure blue
    clip = ClipCache(tmp_path / "cache", size=8, channels=3).load(record_for([path]))
    assert clip.shape == (1, 8, 8, 3)
    assert clip[..., 2].min() > 200 and clip[..., 0].max() < 50


def test_enlarging_gives_the_requested_size(tmp_path, record):
    assert ClipCache(tmp_path / "cache", size=64).load(record).shape == (6, 64, 64, 1)


def test_second_load_reads_the_entry_not_the_frames(tmp_path, record, decodes):
    first = ClipCache(tmp_path / "cache", size=16).load(record)
    entry = ClipCache(tmp_path / "cache", size=16).entry_path(record)
    stamp = entry.stat().st_mtime_ns
    again = ClipCache(tmp_path / "cache", size=16).load(record)  # a fresh instance, as in a new run
    assert len(decodes) == 6
    assert np.array_equal(first, again)
    assert entry.stat().st_mtime_ns == stamp


def test_changed_settings_make_new_entries(tmp_path, record, decodes):
    caches = [ClipCache(tmp_path / "cache", size=s, channels=c) for s, c in [(16, 1), (24, 1), (16, 3)]]
    shapes = [cache.load(record).shape for cache in caches]
    assert shapes == [(6, 16, 16, 1), (6, 24, 24, 1), (6, 16, 16, 3)]
    assert len({cache.entry_path(record) for cache in caches}) == 3
    assert all(cache.entry_path(record).exists() for cache in caches)
    assert len(decodes) == 18


def test_changed_frame_file_is_rebuilt(tmp_path, record):
    cache = ClipCache(tmp_path / "cache", size=16)
    old_entry, old_clip = cache.entry_path(record), cache.load(record)
    cv2.imwrite(str(record.frames[0]), np.zeros((40, 48, 3), np.uint8))
    os.utime(record.frames[0], ns=(1_000_000_000, 1_000_000_000))  # a clearly different mtime
    new_clip = cache.load(record)
    assert cache.entry_path(record) != old_entry
    assert new_clip[0].max() < 5 and old_clip[0].max() > 50
    assert np.array_equal(new_clip[1:], old_clip[1:])


def test_frame_rewritten_with_the_same_size_gets_a_new_entry(tmp_path, record, decodes):
    cache = ClipCache(tmp_path / "cache", size=16)
    old_entry = cache.entry_path(record)
    cache.load(record)
    record.frames[2].write_bytes(record.frames[2].read_bytes())  # same size, new modification time
    os.utime(record.frames[2], ns=(1_000_000_000, 1_000_000_000))
    cache.load(record)
    assert cache.entry_path(record) != old_entry and len(decodes) == 12


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_frame_is_a_user_error_naming_it_and_keeps_the_cache(tmp_path, record, damage):
    cache = ClipCache(tmp_path / "cache", size=16)
    good_entry = cache.entry_path(record)
    cache.load(record)
    paths = write_frames(tmp_path / "other", seed=1)
    data = paths[3].read_bytes()
    paths[3].write_bytes({"garbage": b"not a jpeg" * 50, "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(UserError) as error:
        cache.load(record_for(paths, name="clip2"))
    assert str(paths[3]) in str(error.value) and "\n" not in str(error.value)
    assert good_entry.exists()
    assert not cache.entry_path(record_for(paths, name="clip2")).exists()


def test_missing_frame_is_a_user_error_naming_it(tmp_path, record):
    record.frames[1].unlink()
    with pytest.raises(UserError, match=re.escape(str(record.frames[1]))):
        ClipCache(tmp_path / "cache", size=16).load(record)


def test_leftover_temp_file_from_a_killed_build_is_not_an_entry(tmp_path, record):
    cache = ClipCache(tmp_path / "cache", size=16)
    entry = cache.entry_path(record)
    entry.parent.mkdir(parents=True)
    # What a build killed mid-write leaves: atomic_path's temporary name, half an array inside.
    leftover = entry.parent / f".{entry.stem}.k1ll3d.tmp.npy"
    np.save(leftover, np.zeros((6, 16, 16, 1), np.uint8))
    leftover.write_bytes(leftover.read_bytes()[:300])
    clip = cache.load(record)
    assert clip.shape == (6, 16, 16, 1) and clip.any()
    assert np.array_equal(np.load(entry), clip)


def test_interrupted_write_leaves_no_entry(tmp_path, record, monkeypatch):
    cache = ClipCache(tmp_path / "cache", size=16)
    real_save = np.save

    def interrupted_save(file, array):
        file.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        cache.load(record)
    assert list(cache.entry_path(record).parent.iterdir()) == []
    monkeypatch.setattr(np, "save", real_save)
    assert cache.load(record).shape == (6, 16, 16, 1)


def test_prepared_inputs_are_the_cached_clips_in_order_with_a_progress_bar(tmp_path, capsys):
    from mer3d.config import load_config
    from mer3d.data.inputs import prepare_inputs

    records = [record_for(write_frames(tmp_path / f"c{i}", count=3 + i, seed=i), name=f"c{i}") for i in range(3)]
    data = load_config(overrides=[f"data.cache_dir={tmp_path / 'cache'}", "data.size=16", "data.apex=middle"])["data"]
    clips = prepare_inputs(records, data).arrays
    assert [len(clip) for clip in clips] == [3, 4, 5]
    assert "Preprocessing" in capsys.readouterr().err
    cache = ClipCache(tmp_path / "cache", size=16, face_crop="auto")
    assert all(np.array_equal(a, cache.load(r)) for a, r in zip(clips, records))


def write_video(path: Path, count=8) -> None:
    """Frame n is uniformly gray at 30 * n."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    assert writer.isOpened()
    for n in range(count):
        writer.write(np.full((24, 32, 3), 30 * n, np.uint8))
    writer.release()


def test_video_keeps_onset_to_offset(tmp_path):
    video = tmp_path / "clip.avi"
    write_video(video)
    record = ClipRecord("test", "sub01", "v", "happiness", video=video, onset=2, offset=5)
    clip = ClipCache(tmp_path / "cache", size=8).load(record)
    assert clip.shape == (4, 8, 8, 1)
    assert np.allclose(clip.mean(axis=(1, 2, 3)), [60, 90, 120, 150], atol=3)
    whole = ClipCache(tmp_path / "cache", size=8).load(ClipRecord("test", "sub01", "v", "happiness", video=video))
    assert len(whole) == 8


def test_video_shorter_than_its_offset_or_unreadable_is_a_user_error(tmp_path):
    video = tmp_path / "clip.avi"
    write_video(video)
    too_long = ClipRecord("test", "sub01", "v", "happiness", video=video, onset=2, offset=20)
    with pytest.raises(UserError, match=re.escape(str(video))):
        ClipCache(tmp_path / "cache", size=8).load(too_long)
    video.write_bytes(b"junk" * 100)
    with pytest.raises(UserError, match=re.escape(str(video))):
        ClipCache(tmp_path / "cache", size=8).load(ClipRecord("test", "sub01", "v", "happiness", video=video))


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MER3D_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    assert ClipCache(None).cache_dir == tmp_path / "elsewhere"
    monkeypatch.delenv("MER3D_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "mer3d"


def test_bad_channel_count_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="channels"):
        ClipCache(tmp_path, channels=2)


# ---------------------------------------------------------------- face crop (raw recordings)

def raw_casme2_record(root: Path) -> ClipRecord:
    return record_for(write_frames(root / "CASME2_RAW_selected" / "sub01" / "EP01_01"), name="raw")


def test_preprocess_frame_crops_to_the_box_before_the_papers_resize():
    frame = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8), (5, 5), 0)
    result = preprocess_frame(frame, 16, 1, FaceBox(10, 5, 40, 40))
    expected = cv2.resize(cv2.cvtColor(frame[5:45, 10:50], cv2.COLOR_BGR2GRAY), (16, 16), interpolation=cv2.INTER_AREA)
    assert result.shape == (16, 16, 1) and np.array_equal(result[..., 0], expected)
    colour = preprocess_frame(frame, 40, 3, FaceBox(10, 5, 40, 40))
    assert np.array_equal(colour, frame[5:45, 10:50, ::-1])


def test_a_box_leaving_the_frame_repeats_the_frame_edge():
    frame = np.zeros((30, 40, 3), np.uint8)
    frame[:, 0] = 200                     # a bright left column
    frame[-1, :] = 90                     # a mid-gray bottom row (corner included)
    crop = preprocess_frame(frame, 20, 1, FaceBox(-5, 20, 20, 20))[..., 0]   # frame rows 20-29 + 10 below
    assert (crop[:9, :6] == 200).all()    # 5 padded columns repeat the frame's own first column
    assert (crop[9:] == 90).all()         # the bottom row, then the rows below it repeating it
    assert (crop[:9, 6:] == 0).all()


def test_auto_crops_raw_recordings_only(tmp_path, record):
    raw = raw_casme2_record(tmp_path)
    video = ClipRecord("csv", "s1", "v", "happiness", video=tmp_path / "clip.mp4")
    cropped = record_for(write_frames(tmp_path / "Cropped" / "sub01" / "EP01_01"), name="cropped")
    assert [is_raw(r) for r in (raw, video, cropped, record)] == [True, True, False, False]
    auto, on, off = (ClipCache(tmp_path, face_crop=mode) for mode in ("auto", "on", "off"))
    assert [auto.crops_face(r) for r in (raw, video, cropped, record)] == [True, True, False, False]
    assert on.crops_face(cropped) and not off.crops_face(raw)


def test_face_crop_settings_make_different_entries(tmp_path):
    raw = raw_casme2_record(tmp_path)
    entries = {ClipCache(tmp_path, face_crop=mode).entry_path(raw) for mode in ("auto", "on", "off")}
    assert len(entries) == 3


def test_face_crop_setting_from_the_command_line_reaches_the_cache(tmp_path):
    # YAML reads a bare on/off as true/false: both spellings must mean the same.
    settings = [load_config("paper-casme2", overrides=[f"data.face_crop={v}"])["data"]["face_crop"]
                for v in ("on", "off", "auto", "'on'")]
    assert [ClipCache(tmp_path, face_crop=value).face_crop for value in settings] == ["on", "off", "auto", "on"]
    assert load_config("paper-casme2")["data"]["face_crop"] == "auto"
    with pytest.raises(UserError, match="data.face_crop must be auto, on or off"):
        load_config("paper-casme2", overrides=["data.face_crop=1"])
    with pytest.raises(UserError, match="data.face_crop must be auto, on or off"):
        ClipCache(tmp_path, face_crop="yes")


def test_a_raw_clip_without_a_face_is_a_user_error_naming_its_folder(tmp_path):
    raw = raw_casme2_record(tmp_path)          # smooth random colour blobs: no face
    cache = ClipCache(tmp_path / "cache", size=16, face_crop="auto")
    with pytest.raises(UserError) as error:
        cache.load(raw)
    message = str(error.value)
    assert message.startswith(f"{raw.frames[0].parent}: no face found in the first 5 frames") and "\n" not in message
    assert not cache.entry_path(raw).exists()
    assert ClipCache(tmp_path / "cache", size=16, face_crop="off").load(raw).shape == (6, 16, 16, 1)


def test_smic_frames_are_raw_unless_from_the_cropped_release(tmp_path):
    def smic(*folders):
        path = tmp_path.joinpath(*folders, "s1", "micro", "positive", "s1_po_01", "image1.bmp")
        return ClipRecord("smic", "s1", "s1_po_01", "positive", frames=(path,))

    assert is_raw(smic("SMIC", "HS")) and is_raw(smic("NIR"))
    assert not is_raw(smic("SMIC_all_cropped", "HS"))
    # The same folder names in another dataset say nothing.
    other = ClipRecord("csv", "s1", "c", "positive", frames=(tmp_path / "HS" / "s1" / "image1.bmp",))
    assert not is_raw(other)
