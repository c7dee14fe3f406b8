"""Synthetic input tensors for a model's declared inputs, made outside any timed region.

Light (numpy only): the harness, the evaluation sets and the compilers that warm a program
up all make their inputs here.
"""

from __future__ import annotations

import numpy as np

from edgebench.models._registry import InputSpec, ModelSpec


def make_input(spec: InputSpec, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """One input's tensor for a batch: its declared shape (with the batch where it has one),
    its value where one was given (a control input), else random data in its range."""
    shape = spec.feed_shape(batch_size)
    dtype = np.dtype(spec.dtype)
    if spec.value is not None:
        return np.full(shape, spec.value, dtype=dtype)
    if dtype.kind == "f":
        lo, hi = spec.value_range
        return rng.uniform(lo, hi, size=shape).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, 0), min(info.max, 255) + 1, size=shape, dtype=dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dtype)
    raise ValueError(f"input {spec.name}: cannot make data of type {spec.dtype}")


def make_inputs(model: ModelSpec, batch_size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [make_input(spec, batch_size, rng) for spec in model.inputs]


def make_samples(model: ModelSpec, n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` samples of each input, stacked on a first axis of their own: an input with a batch
    dimension gives (n, *sample), one without gives (n, *its whole shape) (a sample is then
    fed whole, by `sample_batch`)."""
    rng = np.random.default_rng(seed)
    out = []
    for spec in model.inputs:
        if spec.batched:
            out.append(make_input(spec, n, rng))
        else:
            out.append(np.stack([make_input(spec, 1, rng) for _ in range(n)]))
    return out


def sample_batch(model: ModelSpec, arrays: list[np.ndarray], rows: list[int]) -> list[np.ndarray]:
    """The inputs of the samples `rows` (stacked as `make_samples` does) as one batch: an input
    without a batch dimension takes its one sample whole (such a model runs at batch 1)."""
    batch = []
    for spec, a in zip(model.inputs, arrays, strict=True):
        # np.array, not ascontiguousarray: that makes a scalar input (a sample rate) 1-D
        batch.append(np.array(a[rows] if spec.batched else a[rows[0]], order="C"))
    return batch


__all__ = ["make_input", "make_inputs", "make_samples", "sample_batch"]
