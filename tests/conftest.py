import pytest


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A small demo dataset in the CASME II layout, generated once per test session."""
    from mer3d.data.demo import generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo") / "data", subjects=4, clips_per_subject=6,
                         seed=1, frame_size=(68, 56), progress=False)


# A network small enough for CPU tests: 8 frames of 32x32, quarter width.
@pytest.fixture(scope="session")
def composite_root(tmp_path_factory):
    """A small synthetic MEGC 2019 composite (casme2/, samm/, smic/ and its clip list), 6 subjects."""
    from mer3d.data.demo import generate_composite_demo

    return generate_composite_demo(tmp_path_factory.mktemp("composite") / "data", subjects_per_part=2,
                                   clips_per_subject=4, seed=1, frame_size=(68, 56), progress=False)


TINY = ["data.frames=8", "data.size=32", "model.width=0.25", "model.hidden=32", "train.batch_size=4",
        "train.threads=1", "augment.angles=[5]"]


@pytest.fixture
def tiny_overrides(tmp_path):
    return TINY + [f"data.cache_dir={tmp_path / 'cache'}"]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Whatever a test caches by default (e.g. `datasets inspect`'s apex check) stays in its own folder."""
    monkeypatch.setenv("MER3D_CACHE", str(tmp_path / "default-cache"))
