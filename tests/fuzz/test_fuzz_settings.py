"""Malformed settings: every key of base.yaml given values of the wrong kind, damaged config files,
and bad command-line values. Each is refused before any work with one line naming it (exit 2)."""
from __future__ import annotations

from importlib.resources import files

import pytest
import yaml
from harness import assert_user_error, run

BASE = yaml.safe_load((files("mer3d.configs") / "base.yaml").read_text())
# Mappings whose keys are free or which take a mapping or null.
MAPPINGS = {"model.options", "data.magnify", "dataset.roots"}


def leaves(node: dict, prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in MAPPINGS:
            found += leaves(value, f"{path}.")
        else:
            found.append((path, value))
    return found


def wrong_kinds(key: str, default) -> list[str]:
    """Values no sensible reading of ``key`` accepts: another kind than its default's."""
    if key in MAPPINGS:
        return ["[1, 2]", "7", "abc"]
    if isinstance(default, bool):
        return ["maybe", "3", "[true]"]
    if isinstance(default, (int, float)):
        return ["abc", "[1, 2]", "{a: 1}", "true"]
    if isinstance(default, list):
        return ["abc", "{a: 1}", "7"]
    if isinstance(default, str):
        return ["bogus-value", "[a, b]", "{a: 1}", "7"]
    return ["[1, 2]", "{a: 1}", "7"] if key.endswith(("root", "annotations", "genders", "cache_dir")) else \
        ["[1, 2]", "{a: 1}"]


CASES = [(key, value) for key, default in leaves(BASE) if key != "preset" for value in wrong_kinds(key, default)]


@pytest.mark.parametrize("key, value", CASES, ids=[f"{k}={v}" for k, v in CASES])
def test_a_setting_of_the_wrong_kind_is_refused_naming_it(capsys, key, value):
    assert_user_error(run(["model", "--set", f"{key}={value}"], capsys), key)


CONFIG_FILES = {
    "empty": b"",
    "not-yaml": b"data: [unclosed\n",
    "a-list": b"- data\n- train\n",
    "a-number": b"42\n",
    "unknown-key": b"data:\n  sise: 64\n",
    "unknown-section": b"trainer:\n  epochs: 3\n",
    "binary": bytes(range(256)),
    "not-utf8": "data:\n  representation: grä\n".encode("latin-1"),
    "section-not-mapping": b"data: 5\n",
    "bad-value": b"train:\n  epochs: -3\n",
}


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_a_damaged_config_file_is_refused_naming_it(tmp_path, capsys, name):
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(CONFIG_FILES[name])
    outcome = run(["model", "--config", path], capsys)
    if name == "empty":      # an empty file overrides nothing: the preset as it is
        assert outcome.code == 0
    elif name == "bad-value":  # well-formed, one value out of range: the setting is named
        assert_user_error(outcome, "train.epochs")
    else:
        assert_user_error(outcome, path.name)


@pytest.mark.parametrize("key", ["train.lr", "data.fps", "train.momentum", "model.width", "train.val_fraction"])
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_infinite_and_undefined_numbers_are_refused(capsys, key, value):
    assert_user_error(run(["model", "--set", f"{key}={value}"], capsys), key)


@pytest.mark.parametrize("argv, name", [
    (["model", "--preset", "no-such-preset"], "no-such-preset"),
    (["model", "--preset", "paper-casme2+"], "preset"),
    (["model", "--set", "novalue"], "novalue"),
    (["model", "--set", "=3"], "=3"),
    (["model", "--config", "/nonexistent/config.yaml"], "/nonexistent/config.yaml"),
    (["compare", "--config", "no-such-comparison", "--out", "OUT"], "no-such-comparison"),
    (["train", "--preset", "demo"], "--out"),
    (["train", "--resume", "/nonexistent/run"], "/nonexistent/run"),
    (["evaluate", "/nonexistent/run"], "/nonexistent/run"),
    (["demo", "--dataset", "megc2019", "--out", "/proc/version/x"], "/proc/version"),
])
def test_bad_command_line_values_are_refused_naming_them(tmp_path, capsys, argv, name):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert_user_error(run(argv, capsys), name)
