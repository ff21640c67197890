"""Keras-style layer table: every layer's output shape and parameter count."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]   # without the batch dimension
    params: int                      # trainable parameters
    buffers: int                     # non-trainable (BatchNorm running statistics)


def layer_rows(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """Run one zero clip of ``input_shape`` (C, T, H, W) through ``model`` and record each leaf."""
    rows: list[LayerRow] = []

    def record(name: str):
        def hook(module: nn.Module, _inputs, output):
            params = sum(p.numel() for p in module.parameters(recurse=False))
            buffers = sum(b.numel() for b in module.buffers(recurse=False) if b.dtype.is_floating_point)
            rows.append(LayerRow(name, type(module).__name__, tuple(output.shape[1:]), params, buffers))
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    handles = [m.register_forward_hook(record(n)) for n, m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape)))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return rows


def format_layer_table(rows: list[LayerRow], title: str = "") -> str:
    width = max(len(r.name) for r in rows) + 2
    lines = [title] if title else []
    header = f"{'layer':<{width}}{'type':<13}{'output shape':<24}{'params':>12}"
    lines += [header, "-" * len(header)]
    for r in rows:
        shape = "(" + ", ".join(str(d) for d in r.output_shape) + ")"
        lines.append(f"{r.name:<{width}}{r.kind:<13}{shape:<24}{r.params:>12,}")
    trainable = sum(r.params for r in rows)
    buffers = sum(r.buffers for r in rows)
    lines += ["-" * len(header),
              f"trainable parameters: {trainable:,}",
              f"non-trainable (BatchNorm statistics): {buffers:,}",
              f"total parameters (as Keras counts them): {trainable + buffers:,}"]
    return "\n".join(lines)
