"""The paper's network in Keras/TensorFlow (the framework the paper used), for ``mer3d benchmark``:
the speed target is training at least as fast as this same network measured in the same run.

Needs the ``bench`` extra (TensorFlow is imported inside the functions that use it). This module
never imports torch, so the Keras benchmark process's peak RSS is TensorFlow's alone."""
from __future__ import annotations

import resource

import numpy as np

from .benchmark import timed_rate

# Same as mer3d.models.vgg3d.PAPER_BLOCKS (tests check it); repeated here to keep torch out.
PAPER_BLOCKS = ((32,), (32,), (64, 64), (128, 128), (128, 128))
# VGG3D's defaults for the keys an ``arch`` dict may leave out.
DEFAULTS = {"name": "vgg3d", "in_channels": 1, "frames": 16, "size": 128, "width": 1.0, "hidden": 1024,
            "block_dropout": 0.25, "fc_dropout": 0.5, "batchnorm": True}


def block_plan(arch: dict) -> list[tuple[tuple[int, ...], tuple[int, int, int]]]:
    """(filters, pool) per block by VGG3D's rules: filters times ``width`` (at least 1); pool
    (1, 2, 2) after block 1 and (2, 2, 2) after the others, never shrinking a dimension below 1."""
    a = {**DEFAULTS, **arch}
    plan, t, s = [], a["frames"], a["size"]
    for index, filters in enumerate(PAPER_BLOCKS):
        pool = (1 if index == 0 or t < 2 else 2, 2 if s >= 2 else 1, 2 if s >= 2 else 1)
        plan.append((tuple(max(1, round(f * a["width"])) for f in filters), pool))
        t, s = t // pool[0], s // pool[1]
    return plan


def build_keras_vgg3d(arch: dict):
    """``mer3d.models.vgg3d.VGG3D`` for the same ``arch`` as a Keras Sequential model on
    channels-last clips (T, H, W, C), ending in logits. BatchNorm momentum and epsilon are
    PyTorch's (Keras momentum 0.9 = PyTorch 0.1, eps 1e-5)."""
    import keras
    from keras import layers

    a = {**DEFAULTS, **arch}
    if a["name"] != "vgg3d":
        raise ValueError(f"only vgg3d has a Keras counterpart, not {a['name']!r}")
    model = keras.Sequential([keras.Input((a["frames"], a["size"], a["size"], a["in_channels"]))], name="vgg3d")
    conv = 1
    for block, (filters, pool) in enumerate(block_plan(a), start=1):
        for f in filters:
            model.add(layers.Conv3D(f, 3, padding="same", activation="relu", name=f"conv{conv}"))
            conv += 1
        if a["batchnorm"]:
            model.add(layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{block}"))
        model.add(layers.MaxPooling3D(pool, name=f"pool{block}"))
        if a["block_dropout"] > 0:
            model.add(layers.Dropout(a["block_dropout"], name=f"dropout{block}"))
    model.add(layers.Flatten(name="flatten"))
    model.add(layers.Dense(a["hidden"], activation="relu", name="dense1"))
    model.add(layers.Dropout(a["fc_dropout"], name="dropout"))
    model.add(layers.Dense(a["num_classes"], name="dense2"))
    return model


def measure_keras(arch: dict, repeats: int, threads: int | None = None) -> dict:
    """Like ``benchmark.measure`` for the Keras model: fp32, no XLA, inference with
    ``predict_on_batch`` (Keras's compiled path: 1.2-1.7x faster here than an eager call, so the
    fairer baseline), training with a compiled ``train_on_batch`` (SGD lr 1e-4 momentum
    0.9, sparse categorical cross-entropy). ``threads`` sets TensorFlow's intra- and inter-op pools
    (call before anything else uses TensorFlow in this process)."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    model = build_keras_vgg3d(arch)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    rng = np.random.default_rng(0)
    x1, x16 = (tf.constant(rng.standard_normal((n, *model.input_shape[1:]), dtype=np.float32)) for n in (1, 16))
    y16 = tf.constant(rng.integers(0, arch["num_classes"], 16), dtype=tf.int32)
    steps = {"infer_b1": lambda: model.predict_on_batch(x1),
             "infer_b16": lambda: model.predict_on_batch(x16),
             "train_b16": lambda: model.train_on_batch(x16, y16)}
    result = {kind: timed_rate(kind, step, repeats) for kind, step in steps.items()}
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result
