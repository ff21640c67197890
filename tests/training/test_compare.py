import csv
import json
from importlib.resources import files

import pytest
import yaml

from conftest import TINY
from mer3d.cli import main
from mer3d.errors import UserError
from mer3d.training.compare import read_comparison


def write_spec(path, root, cache):
    path.write_text(f"""
preset: paper-casme2
dataset: {{root: {root}}}
set: [{', '.join(repr(s) for s in TINY)}, data.cache_dir={cache}, train.epochs=1, protocol.name=kfold,
      protocol.k=2, train.final_model=false]
seeds: [0, 1]
reference: full
cells:
  - {{name: full, paper_accuracy: 69.11}}
  - {{name: no-augment, preset: paper-casme2+no-augment, paper_accuracy: 62.95}}
  - {{name: geme, set: [model.name=geme], paper_accuracy: 67.48}}
""")
    return path


def test_compare_end_to_end_and_reuse(capsys, tmp_path, demo_root):
    spec = write_spec(tmp_path / "compare.yaml", demo_root, tmp_path / "cache")
    out = tmp_path / "cmp"
    assert main(["compare", "--config", str(spec), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "comparison.csv")))
    assert [r["cell"] for r in rows] == ["full", "no-augment", "geme"]
    assert all(int(r["runs"]) == 2 for r in rows[:2]) and float(rows[1]["paper_accuracy"]) == pytest.approx(62.95)
    assert rows[0]["uf1_diff"] == ""
    assert float(rows[1]["uf1_diff_low"]) <= float(rows[1]["uf1_diff"]) <= float(rows[1]["uf1_diff_high"])
    # The demo sheet has no genders: GEME is skipped with the reason, and nothing is left behind.
    assert int(rows[2]["runs"]) == 0 and rows[2]["uf1_mean"] == "" and "gender" in rows[2]["skipped"]
    table = (out / "comparison.md").read_text()
    assert "| no-augment | 2 |" in table and "| geme | 0 | skipped: model geme learns each subject's gender" in table
    assert "the same test subjects for both cells" in table and "Fewer than 2 test subjects" not in table
    assert (out / "comparison.png").stat().st_size > 1000
    assert len(list(out.glob("runs/*/seed*/metrics.json"))) == 4 and not (out / "runs" / "geme").exists()
    # Seeds differ in initialisation, shuffling, windows and folds ...
    seeds = [(out / "runs" / "full" / f"seed{k}" / "predictions.csv").read_text() for k in (0, 1)]
    assert seeds[0] != seeds[1]

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/seed*/metrics.json")}
    capsys.readouterr()
    assert main(["compare", "--config", str(spec), "--out", str(out)]) == 0     # finished runs are reused
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # ... and the same seeds give the same numbers from scratch.
    again = tmp_path / "again"
    assert main(["compare", "--config", str(spec), "--out", str(again)]) == 0
    assert (again / "comparison.csv").read_text() == (out / "comparison.csv").read_text()
    assert (again / "runs/full/seed1/predictions.csv").read_text() == (out / "runs/full/seed1/predictions.csv").read_text()


def test_bad_comparison_files(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("preset: paper-casme2\ncells: []\n")
    with pytest.raises(UserError, match="lists no model"):
        read_comparison(bad)
    bad.write_text("preset: paper-casme2\nreference: x\ncells: [{name: a}]\n")
    with pytest.raises(UserError, match="reference 'x'"):
        read_comparison(bad)
    with pytest.raises(UserError, match="no such comparison file"):
        read_comparison(tmp_path / "none.yaml")
    assert [c.name for c in read_comparison("paper-casme2").cells][:2] == ["paper", "no-augment"]


# Motion comparisons: DIS instead of TV-L1 (TV-L1 is not what these tests check), flows computed at
# data.size (the flow-model presets compute them at 128) and in this process (no worker start-up).
FAST_MOTION = ["data.flow=dis", "data.flow_size=null", "data.workers=1"]


@pytest.mark.parametrize("shipped", ["paper-casme2", "demo", "motion-casme2", "motion-demo"])
def test_every_cell_of_a_shipped_comparison_runs(tmp_path, demo_root, shipped):
    """The shipped files at tiny size, one seed: each cell's preset and settings are valid and train."""
    from mer3d.training.compare import cell_config

    spec = yaml.safe_load((files("mer3d.configs") / "compare" / f"{shipped}.yaml").read_text())
    genders = tmp_path / "genders.csv"
    genders.write_text("subject,gender\n1,f\n2,m\n3,f\n4,m\n")
    motion = shipped.startswith("motion-")
    spec.update(seeds=[0], dataset={"root": str(demo_root), "genders": str(genders)},
                set=[*spec["set"], *TINY, f"data.cache_dir={tmp_path / 'cache'}", "train.epochs=1",
                     "protocol.name=kfold", "protocol.k=2", "train.final_model=false",
                     *(FAST_MOTION if motion else [])])
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["compare", "--config", str(path), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "comparison.csv")))
    assert [r["cell"] for r in rows] == [c["name"] for c in spec["cells"]]
    assert all(int(r["runs"]) == 1 and r["skipped"] == "" for r in rows)
    if motion:
        # Each cell trained on its own input and model, as the file says, and reports it.
        comparison = read_comparison(path)
        seen = {}
        for cell in comparison.cells:
            config = cell_config(comparison, cell, 0)
            metrics = json.loads((tmp_path / "out" / "runs" / cell.name / "seed0" / "metrics.json").read_text())
            assert metrics["representation"] == config["data"]["representation"], cell.name
            assert ("flow" in metrics) == (config["data"]["representation"] in ("flow", "flow+strain", "apex-flow"))
            seen[cell.name] = (config["model"]["name"], config["data"]["representation"])
        assert seen["gray"] == ("vgg3d", "gray") and seen["diff"] == ("vgg3d", "diff")
        assert seen["flow"] == ("vgg3d", "flow") and seen["flow+strain"] == ("vgg3d", "flow+strain")
        assert seen["ststnet"] == ("ststnet", "apex-flow") and seen["off-apexnet"] == ("off-apexnet", "apex-flow")
        assert seen["lbptop-svm"] == ("lbptop-svm", "gray")


@pytest.mark.parametrize("shipped", ["megc2019", "megc2019-demo"])
def test_the_composite_comparisons_run_loso_and_print_the_published_results(tmp_path, composite_root, shipped):
    """Every cell of the composite comparisons, LOSO over the small composite's 6 subjects of 3 parts."""
    spec = yaml.safe_load((files("mer3d.configs") / "compare" / f"{shipped}.yaml").read_text())
    spec.update(seeds=[0], dataset={"root": str(composite_root)},
                set=[*spec["set"], *TINY, f"data.cache_dir={tmp_path / 'cache'}", "train.epochs=1",
                     "train.final_model=false", *FAST_MOTION])
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["compare", "--config", str(path), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "comparison.csv")))
    assert [r["cell"] for r in rows] == [c["name"] for c in spec["cells"]]
    assert all(r["skipped"] == "" and r["smic_uf1_mean"] != "" for r in rows)
    text = (tmp_path / "out" / "comparison.md").read_text()
    assert "| UF1 / UAR | composite | CASME II | SAMM | SMIC |" in text
    assert "| STSTNet (published) | 0.7353 / 0.7605 | 0.8382 / 0.8686 | 0.6588 / 0.6810 | 0.6801 / 0.7013 |" in text
    metrics = json.loads((tmp_path / "out" / "runs" / "ststnet" / "seed0" / "metrics.json").read_text())
    assert (metrics["folds"], list(metrics["parts"])) == (6, ["casme2", "samm", "smic"])
    assert metrics["apex_source"] == "mixed"     # SMIC's apexes are estimated
