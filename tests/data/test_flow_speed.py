import numpy as np
import pytest

from mer3d.data.flow import optical_flow
from mer3d.data.flow_speed import CASME2_FRAMES, flow_benchmark, format_flow_benchmark, sample_clip


def test_the_sample_clip_moves_locally_and_most_at_its_middle():
    clip = sample_clip(64, frames=9)
    assert clip.shape == (9, 64, 64) and clip.dtype == np.uint8
    middle = np.linalg.norm(optical_flow(clip[0], clip[4], "tvl1"), axis=-1)
    # The bump (up to 1.5 px at 64 px) sits right of centre, below the eyes; a corner stays still.
    assert middle[38:46, 40:50].mean() > 0.5 > middle[:10, :10].mean() + 0.3
    end = np.linalg.norm(optical_flow(clip[0], clip[8], "tvl1"), axis=-1)
    assert end[38:46, 40:50].mean() < middle[38:46, 40:50].mean()


def test_flow_benchmark_reports_each_method_and_size_and_projects_casme2():
    report = flow_benchmark(methods=("dis", "farneback"), sizes=(28,), clips=2, workers=1, progress=lambda m: None)
    assert [(r["method"], r["size"]) for r in report["rows"]] == [("dis", 28), ("farneback", 28)]
    for row in report["rows"]:
        assert row["ms_per_pair"] > 0 and row["frames_per_s"] > 0
        assert row["casme2_minutes"] * 60 * row["frames_per_s"] == pytest.approx(CASME2_FRAMES)
        assert row["casme2_cache_gib"] * 2 ** 30 == CASME2_FRAMES * 28 * 28 * 2 * 2
    assert report["worker_peak_rss_gib"] > 0
    text = format_flow_benchmark(report)
    assert "dis" in text and "farneback" in text and "CASME II" in text
