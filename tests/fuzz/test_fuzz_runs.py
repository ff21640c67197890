"""Damaged run folders: `mer3d evaluate` on a run whose predictions.csv or history.csv was damaged or
hand-edited is one line naming the file and row (exit 2), and changes nothing."""
from __future__ import annotations

import random
import shutil

import pytest
from harness import assert_no_traceback, assert_user_error, run, tree

from conftest import TINY
from mer3d.cli import main


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, demo_root):
    out = tmp_path_factory.mktemp("run") / "run"
    sets = [*TINY, f"data.cache_dir={out.parent / 'cache'}", "train.epochs=1", "protocol.name=kfold",
            "protocol.k=2", "train.final_model=false"]
    assert main(["train", "--root", str(demo_root), "--out", str(out), *[a for s in sets for a in ("--set", s)]]) == 0
    return out


def header_and_rows(run_dir):
    lines = (run_dir / "predictions.csv").read_text().splitlines()
    return lines[0], lines[1:]


def edit_predictions(kind: str, text: str) -> bytes:
    header, *rows = text.splitlines()
    columns = header.split(",")

    def without(column: str) -> str:
        keep = [i for i, c in enumerate(columns) if c != column]
        return "\n".join(",".join(line.split(",")[i] for i in keep) for line in [header, *rows]) + "\n"

    def cell(column: str, value: str) -> str:
        index = columns.index(column)
        first = rows[0].split(",")
        first[index] = value
        return "\n".join([header, ",".join(first), *rows[1:]]) + "\n"

    edits = {
        "zero-bytes": lambda: "",
        "header-only": lambda: header + "\n",
        "json": lambda: '{"predictions": []}\n',
        "short-row": lambda: "\n".join([header, ",".join(rows[0].split(",")[:3]), *rows[1:]]) + "\n",
        "long-row": lambda: "\n".join([header, rows[0] + ",x,y", *rows[1:]]) + "\n",
        "semicolons": lambda: text.replace(",", ";"),
        "unknown-true": lambda: cell("true", "joy"),
        "unknown-predicted": lambda: cell("predicted", ""),
        "probability-text": lambda: cell(next(c for c in columns if c.startswith("p_")), "abc"),
        "probability-nan": lambda: cell(next(c for c in columns if c.startswith("p_")), "nan"),
        "probability-inf": lambda: cell(next(c for c in columns if c.startswith("p_")), "inf"),
        "probability-blank": lambda: cell(next(c for c in columns if c.startswith("p_")), ""),
    }
    edits.update({f"no-{c}": (lambda c=c: without(c)) for c in ("fold", "subject", "clip", "true", "predicted")})
    if kind == "random-bytes":
        return bytes(random.Random(3).randrange(256) for _ in range(3000))
    if kind == "latin-1":
        return cell("clip", "clíp").encode("latin-1")
    return edits[kind]().encode()


KINDS = ["zero-bytes", "header-only", "json", "short-row", "long-row", "semicolons", "unknown-true",
         "unknown-predicted", "probability-text", "probability-nan", "probability-inf", "probability-blank",
         "random-bytes", "latin-1", "no-fold", "no-subject", "no-clip", "no-true", "no-predicted"]


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_predictions_are_one_line_and_change_nothing(tmp_path, capsys, finished_run, kind):
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    predictions = copy / "predictions.csv"
    predictions.write_bytes(edit_predictions(kind, predictions.read_text()))
    before = tree(copy)
    assert_user_error(run(["evaluate", copy], capsys), "predictions.csv")
    assert tree(copy) == before


HISTORY = {
    "text-values": "fold,epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\nfold1,one,abc,x,,,y,z\n",
    "random-bytes": bytes(random.Random(4).randrange(256) for _ in range(500)),
    "missing-columns": "fold,loss\nfold1,0.5\n",
    "zero-bytes": "",
}


@pytest.mark.parametrize("kind", sorted(HISTORY))
def test_damaged_history_is_one_line_or_left_out(tmp_path, capsys, finished_run, kind):
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    data = HISTORY[kind]
    (copy / "history.csv").write_bytes(data if isinstance(data, bytes) else data.encode())
    outcome = run(["evaluate", copy], capsys)
    assert_no_traceback(outcome)
    if outcome.code == 2:
        assert_user_error(outcome, "history.csv")
