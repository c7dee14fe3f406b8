"""Random int8 calibration data, made outside any timed region (synthetic inputs themselves
are made in models/synthetic_inputs.py, below every layer that feeds a model)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from edgebench.compilers.base import Calibration
from edgebench.models import ModelSpec
from edgebench.models.synthetic_inputs import make_input


def random_calibration(model: ModelSpec, size: int, seed: int = 1) -> Calibration:
    """Calibration from random inputs: fine for speed, meaningless for accuracy."""

    def batches() -> Iterator[list[np.ndarray]]:
        rng = np.random.default_rng(seed)
        for _ in range(size):
            yield [make_input(spec, 1, rng) for spec in model.inputs]

    first = model.inputs[0] if model.inputs else None
    spread = None
    if first is not None and first.value is None and np.dtype(first.dtype).kind == "f":
        spread = (float(first.value_range[0]), float(first.value_range[1]))
    return Calibration("random", size, batches, spread)
