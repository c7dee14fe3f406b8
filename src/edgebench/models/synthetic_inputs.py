"""Synthetic input tensors for a model's declared inputs, made outside any timed region.

Light (numpy only): the harness, the evaluation sets and the compilers that warm a program
up all make their inputs here.
"""

from __future__ import annotations

import numpy as np

from edgebench.models._registry import InputSpec, ModelSpec


def make_input(spec: InputSpec, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    shape = (batch_size, *(d if d is not None else 1 for d in spec.shape))
    dtype = np.dtype(spec.dtype)
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


__all__ = ["make_input", "make_inputs"]
