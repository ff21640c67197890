import json

from mer3d.config import load_config
from mer3d.training import precision_check

from conftest import TINY


def test_bf16_and_fp32_losses_from_the_same_start_and_batches(tmp_path, demo_root):
    out = tmp_path / "check"
    precision_check.main(["--preset", "demo", "--root", str(demo_root), "--steps", "3", "--out", str(out),
                          *[arg for o in TINY + [f"data.cache_dir={tmp_path / 'cache'}"] for arg in ("--set", o)]])
    result = json.loads((out / "losses.json").read_text())
    assert result["steps"] == 3 and result["finite"]
    fp32, bf16 = result["losses"]["fp32"], result["losses"]["bf16"]
    assert len(fp32) == len(bf16) == 3 and fp32 != bf16          # two precisions, really trained
    assert abs(fp32[0] - bf16[0]) < 0.1 * fp32[0]                 # the same first batch and weights
    assert result["max_abs_difference"] == max(abs(a - b) for a, b in zip(fp32, bf16))
    assert (out / "losses.png").stat().st_size > 0


def test_the_first_batches_follow_the_run_order(tmp_path, demo_root):
    config = load_config("demo", overrides=TINY + [f"dataset.root={demo_root}", f"data.cache_dir={tmp_path / 'c'}"])
    _, first = precision_check.first_batches(config, 2)
    _, again = precision_check.first_batches(config, 2)
    assert len(first) == 2 and all((a[0] == b[0]).all() for a, b in zip(first, again))
