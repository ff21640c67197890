from mer3d.inference.throughput import format_throughput, predict_throughput

TINY = {"name": "vgg3d", "num_classes": 3, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25,
        "hidden": 16, "block_dropout": 0.25, "fc_dropout": 0.5, "batchnorm": True}


def test_predict_throughput_measures_both_backends():
    report = predict_throughput(TINY, repeats=1)
    assert report["input"]["width"] == 640 and report["input"]["fps"] == 30
    for backend in ("torch", "onnxruntime"):
        r = report["backends"][backend]
        assert r["frames_per_s"] > 0 and r["realtime_factor"] == r["frames_per_s"] / 30
        assert r["windows"] == 19   # 150 frames; default window = one training window (8 frames at 200 fps): 1 frame at 30 fps; starts 0, 8, ..., 144
    text = format_throughput(report)
    assert "onnxruntime" in text and "real time" in text
