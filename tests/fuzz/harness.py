"""What every malformed input must get (issue: never a traceback, never a silent wrong answer):
a user mistake or damaged file is one line on stderr naming the file, row, setting or option, exit
status 2; nothing existing changes and nothing is left behind that blocks the corrected command."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mer3d.cli import main

# The writers of real-format fixtures (tests/data/fixtures.py), for the tests here.
sys.path.insert(0, str(Path(__file__).parents[1] / "data"))

# MER3D_FUZZ=large: more generated examples in the property-based tests (a longer, deeper run).
LARGE = os.environ.get("MER3D_FUZZ", "") == "large"


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run(argv: list[str], capsys) -> Outcome:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a digest of its bytes (what 'nothing existing changed' compares)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def assert_no_traceback(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.err, outcome.err
    assert outcome.code in (0, 2), (outcome.code, outcome.err)


def assert_user_error(outcome: Outcome, *names: str) -> None:
    """Exit 2 and one 'mer3d: error:' line naming each of ``names`` (a file, row, setting or option)."""
    assert_no_traceback(outcome)
    assert outcome.code == 2, (outcome.code, outcome.out[-500:], outcome.err[-500:])
    errors = [line for line in outcome.err.splitlines() if line.startswith("mer3d: error:")]
    assert len(errors) == 1, outcome.err
    for name in names:
        assert str(name) in errors[0], (name, errors[0])


def assert_problem_at(dataset: str, root: Path, path: Path, row: int | None, capsys) -> list[dict]:
    """``datasets inspect`` exits 0 and reports a problem at ``path`` (sheet row ``row``), and nothing
    under ``root`` changes; returns the problems."""
    before = tree(root)
    outcome = run(["datasets", "inspect", "--dataset", dataset, "--root", root, "--json"], capsys)
    assert_no_traceback(outcome)
    assert outcome.code == 0, outcome.err
    problems = json.loads(outcome.out)["problems"]
    assert any(p["path"] == str(path) and p["row"] == row for p in problems), problems
    assert tree(root) == before
    return problems
