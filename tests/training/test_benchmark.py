import pytest
import torch

from mer3d.config import load_config
from mer3d.models import create_model
from mer3d.models.vgg3d import PAPER_BLOCKS
from mer3d.training import benchmark as bm
from mer3d.training import keras_reference as kr

TINY = {"name": "vgg3d", "num_classes": 3, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25,
        "hidden": 16, "block_dropout": 0.25, "fc_dropout": 0.5, "batchnorm": True}
PAPER = {**TINY, "num_classes": 5, "frames": 16, "size": 128, "width": 1.0, "hidden": 1024}
KEYS = {"infer_b1", "infer_b16", "train_b16", "peak_rss_gb"}


def test_measure_tiny_arch_gives_positive_rates():
    torch.set_num_threads(1)
    result = bm.measure(TINY, "channels_last", "fp32", repeats=1)
    assert set(result) == KEYS
    assert all(result[k] > 0 for k in KEYS)


def test_run_variant_in_its_own_process():
    result = bm.run_variant(TINY, "channels-last-fp32", repeats=1, threads=1)
    assert set(result) == KEYS and all(result[k] > 0 for k in KEYS)


def _fake_run(keras_fails=False):
    def run_variant(arch, variant, repeats, threads):
        if variant == bm.KERAS_VARIANT and keras_fails:
            raise RuntimeError("no tensorflow here")
        return {"infer_b1": 1.0, "infer_b16": 2.0, "train_b16": 3.0, "peak_rss_gb": 0.5}
    return run_variant


@pytest.mark.parametrize("keras_fails", [False, True])
def test_benchmark_report_uses_the_measured_keras_row(monkeypatch, keras_fails):
    monkeypatch.setattr(bm, "run_variant", _fake_run(keras_fails))
    config = load_config("paper-casme2")
    messages = []
    report = bm.benchmark(config, 5, repeats=1, variants=("pytorch-default", bm.KERAS_VARIANT),
                          progress=messages.append)
    assert report["keras_measured"] is not keras_fails
    if keras_fails:  # falls back to the notes, labelled as such
        assert report["keras_reference"] == bm.KERAS_REFERENCE and "tensorflow" not in report
        assert any("without the Keras measurement" in m for m in messages)
    else:
        assert report["keras_reference"] == {"infer_b1": 1.0, "infer_b16": 2.0, "train_b16": 3.0}
    small = bm.benchmark(load_config("paper-casme2", overrides=["data.size=32"]), 5, repeats=1,
                         variants=("pytorch-default",), progress=messages.append)
    assert "keras_reference" not in small  # the notes' numbers are for the 128x128 network only
    assert {"architecture", "threads", "repeats", "cpu", "torch", "variants"} <= set(small)


def _report(keras_row: bool) -> dict:
    row = {"infer_b1": 10.0, "infer_b16": 20.0, "train_b16": 5.0, "peak_rss_gb": 1.5}
    variants = {"pytorch-default": row, "channels-last-fp32": {**row, "train_b16": 15.0}}
    report = {"architecture": PAPER, "threads": 2, "repeats": 3, "cpu": "test cpu", "torch": "2.13.0",
              "variants": variants, "keras_measured": keras_row}
    if keras_row:
        variants[bm.KERAS_VARIANT] = {**row, "train_b16": 12.5}
        defaults = {"training": "channels-last-fp32", "inference": "pytorch-default"}
        report.update(keras_reference={"infer_b1": 10.0, "infer_b16": 20.0, "train_b16": 12.5},
                      tensorflow="2.21.0", keras="3.15.1", defaults=defaults,
                      ratios=bm.default_ratios(variants, defaults))
    else:
        report["keras_reference"] = bm.KERAS_REFERENCE
    return report


def test_format_with_keras_measured_in_the_run():
    text = bm.format_benchmark(_report(keras_row=True))
    assert "tensorflow 2.21.0, keras 3.15.1" in text
    assert "keras-tensorflow" in text and "(notes)" not in text
    assert "ratio to Keras/TensorFlow (measured in this run):" in text
    assert "channels-last-fp32  infer_b1 x1.00  infer_b16 x1.00  train_b16 x1.20" in text
    assert "pytorch-default     infer_b1 x1.00  infer_b16 x1.00  train_b16 x0.40" in text
    assert "mer3d's defaults / Keras: infer_b1 x1.00  infer_b16 x1.00  train_b16 x1.20  (target x2: not met)" in text
    assert "mer3d's defaults: training = channels-last-fp32, predict = pytorch-default" in text


def test_ratios_are_the_defaults_over_keras_in_the_same_run(monkeypatch):
    rates = {"pytorch-default": 1.0, "glibc-no-mmap": 1.0, "channels-last-fp32": 2.0, "channels-last-bf16": 4.0, bm.KERAS_VARIANT: 2.0}
    monkeypatch.setattr(bm, "run_variant", lambda arch, variant, repeats, threads: {
        "infer_b1": rates[variant], "infer_b16": rates[variant], "train_b16": rates[variant], "peak_rss_gb": 1.0})
    for precision, train_ratio in (("fp32", 1.0), ("bf16", 2.0)):
        config = load_config("paper-casme2", overrides=[f"train.precision={precision}"])
        report = bm.benchmark(config, 5, repeats=1, progress=lambda m: None, pipeline=False,
                              variants=(*bm.VARIANTS, bm.KERAS_VARIANT))
        assert report["ratios"] == {"infer_b1": 2.0, "infer_b16": 2.0, "train_b16": train_ratio}
        assert report["defaults"]["training"] == f"channels-last-{precision}"
    without = bm.benchmark(config, 5, repeats=1, progress=lambda m: None, pipeline=False, variants=tuple(bm.VARIANTS))
    assert "ratios" not in without


def test_format_without_keras_labels_the_notes_row():
    text = bm.format_benchmark(_report(keras_row=False))
    assert "keras-tf (notes)" in text and "not measured in this run" in text
    assert "NOT measured in this run" in text
    # train 15.0 against the notes' 14.6
    assert "channels-last-fp32  infer_b1 x0.22  infer_b16 x0.38  train_b16 x1.03" in text
    assert "speed-up over pytorch-default" in text


def test_format_of_an_older_report_without_keras_keys():
    report = _report(keras_row=False)
    del report["keras_measured"], report["keras_reference"]
    text = bm.format_benchmark(report)
    assert "Keras" not in text and "speed-up over pytorch-default" in text


def test_keras_variant_only_when_tensorflow_is_installed(monkeypatch):
    monkeypatch.setattr(bm.importlib.util, "find_spec", lambda name: None)
    assert bm.default_variants() == tuple(bm.VARIANTS)
    monkeypatch.setattr(bm.importlib.util, "find_spec", lambda name: object())
    assert bm.default_variants() == (*bm.VARIANTS, bm.KERAS_VARIANT)


@pytest.mark.parametrize("arch", [PAPER, TINY, {**TINY, "frames": 2, "size": 8}])
def test_keras_block_plan_follows_vgg3d(arch):
    assert kr.PAPER_BLOCKS == PAPER_BLOCKS
    model = create_model(**arch)
    expected = [(tuple(m.out_channels for m in block if isinstance(m, torch.nn.Conv3d)),
                 tuple(block.pool.kernel_size)) for block in model.features]
    assert kr.block_plan(arch) == expected


def test_keras_model_matches_pytorch():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    for arch in (PAPER, TINY):
        torch_model = create_model(**arch).eval()
        keras_model = kr.build_keras_vgg3d(arch)
        trainable = sum(int(keras.ops.size(w)) for w in keras_model.trainable_weights)
        assert trainable == sum(p.numel() for p in torch_model.parameters() if p.requires_grad)
        c, t, h, w = torch_model.feature_shape
        assert tuple(keras_model.get_layer("flatten").input.shape[1:]) == (t, h, w, c)
        x = torch.randn(2, arch["in_channels"], arch["frames"], arch["size"], arch["size"])
        with torch.no_grad():
            torch_out = torch_model(x)
        keras_out = keras_model(x.permute(0, 2, 3, 4, 1).numpy(), training=False)
        assert tuple(keras_out.shape) == tuple(torch_out.shape) == (2, arch["num_classes"])
    paper = kr.build_keras_vgg3d(PAPER)
    assert sum(int(keras.ops.size(w)) for w in paper.trainable_weights) == 3_847_461


TINY_DATA = ["data.size=16", "data.frames=4"]


@pytest.mark.parametrize("overrides", [["data.representation=gray"],
                                       ["data.representation=flow", "data.channels=1"]])
def test_benchmark_reports_the_data_pipeline_alone(monkeypatch, overrides):
    monkeypatch.setattr(bm, "run_variant", _fake_run())
    config = load_config("paper-casme2", overrides=TINY_DATA + overrides)
    threads = torch.get_num_threads()
    training = bm.default_training_variant(config)
    report = bm.benchmark(config, 5, repeats=2, variants=("pytorch-default", training),
                          progress=lambda m: None)
    assert torch.get_num_threads() == threads  # one thread while timing, restored afterwards
    pipe = report["data_pipeline"]
    assert pipe["clips_per_s_per_core"] > 0 and pipe["augmentation_versions"] == 10
    rep = config["data"]["representation"]
    assert (pipe["representation"], pipe["size"], pipe["frames"]) == (rep, 16, 4)
    assert pipe["stored"] == ("frames" if rep == "gray" else "flow")
    assert pipe["channels"] == (1 if rep == "gray" else 2)
    cmp = pipe["versus_training"]
    assert cmp["training_variant"] == training and cmp["training_clips_per_s"] == 3.0
    assert cmp["limits"] in ("model", "data pipeline") and 0 < cmp["serial_clips_per_s"] < 3.0
    text = bm.format_benchmark(report)
    assert "data pipeline alone" in text and "clips/s per core" in text
    assert f"data pipeline on {report['threads']} cores ~" in text and "vs training 3.0 clips/s" in text
    assert "add rather than overlap" in text
    assert "data_pipeline" not in bm.benchmark(config, 5, repeats=1, variants=("pytorch-default",),
                                               progress=lambda m: None, pipeline=False)


def test_format_of_the_pipeline_line_names_the_limit():
    report = _report(keras_row=False)
    pipe = {"clips_per_s_per_core": 2.0, "representation": "gray", "stored": "frames", "size": 128,
            "frames": 16, "channels": 1, "augmentation_versions": 10}
    from mer3d.training.pipeline_speed import versus_training
    report["data_pipeline"] = {**pipe, "versus_training": versus_training(pipe, report["variants"], 2,
                                                                          "channels-last-fp32")}
    text = bm.format_benchmark(report)
    # 2 clips/s per core on 2 cores against channels-last-fp32's 15 clips/s training
    assert "data pipeline on 2 cores ~ 4.0 clips/s vs training 15.0 clips/s (channels-last-fp32 train b16): " \
           "the data pipeline limits" in text
    assert "~1.8 clips/s, 88.2% of the time in the pipeline" in text
