"""Property-based: whatever bytes or values are generated, mer3d answers with a report or one line
(exit 0 or 2), never a traceback. MER3D_FUZZ=large runs many more examples."""
from __future__ import annotations

from importlib.resources import files

import yaml
from harness import LARGE, assert_no_traceback, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 400 if LARGE else 20
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LARGE, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
BASE = yaml.safe_load((files("mer3d.configs") / "base.yaml").read_text())
KEYS = sorted(f"{section}.{key}" for section, values in BASE.items() if isinstance(values, dict) for key in values)
YAML_VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                        st.booleans(), st.none(), st.text(max_size=12),
                        st.lists(st.integers(-5, 5), max_size=3))


@SETTINGS
@given(key=st.sampled_from(KEYS), value=YAML_VALUES)
def test_any_value_of_any_setting_is_accepted_or_refused_in_one_line(capsys, key, value):
    text = yaml.safe_dump({"v": value}, default_flow_style=True)[4:-2]   # the value as YAML flow text
    outcome = run(["model", "--set", f"{key}={text}"], capsys)
    assert_no_traceback(outcome)
    if outcome.code == 2:
        assert outcome.err.count("mer3d: error:") == 1


@SETTINGS
@given(data=st.binary(max_size=3000))
def test_any_bytes_as_a_coding_sheet_are_refused_in_one_line(tmp_path_factory, capsys, data):
    root = tmp_path_factory.mktemp("sheet")
    (root / "Cropped" / "sub01" / "EP01").mkdir(parents=True)
    (root / "CASME2-coding-20140508.xlsx").write_bytes(data)
    outcome = run(["datasets", "inspect", "--dataset", "casme2", "--root", root], capsys)
    assert_no_traceback(outcome)
    assert outcome.code == 2 and "CASME2-coding-20140508.xlsx" in outcome.err


@SETTINGS
@given(text=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=400))
def test_any_text_as_a_manifest_is_read_or_refused_in_one_line(tmp_path_factory, capsys, text):
    root = tmp_path_factory.mktemp("manifest")
    (root / "manifest.csv").write_text(text, encoding="utf-8")
    outcome = run(["datasets", "inspect", "--dataset", "csv", "--root", root], capsys)
    assert_no_traceback(outcome)


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_any_bytes_as_a_config_file_are_read_or_refused_in_one_line(tmp_path_factory, capsys, data):
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_bytes(data)
    outcome = run(["model", "--config", path], capsys)
    assert_no_traceback(outcome)


@SETTINGS
@given(stride=st.integers(-10, 0) | st.just(10**9), duration=st.sampled_from(["0", "-1", "inf", "nan", "abc", "1e400"]))
def test_bad_predict_values_are_refused_before_the_input_is_opened(tmp_path_factory, capsys, stride, duration):
    outcome = run(["predict", "missing.mp4", "--weights", "missing.safetensors", "--stride", stride,
                   "--duration", duration], capsys)
    assert_no_traceback(outcome)
    assert outcome.code == 2
