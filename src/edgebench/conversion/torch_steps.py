"""Converters that need PyTorch. Imported only inside a worker process."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from edgebench.conversion.routes import NoRoute
from edgebench.models import ModelSpec
from edgebench.models.weights import ResolvedWeights


def materialize_torch_twin(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> str:
    """Builds a zoo model's PyTorch twin as a torch.export program (`model.pt2`).

    The twin takes PyTorch checkpoints; a zoo model's Keras weights cannot be carried over, so
    those cells are unsupported rather than silently run with other weights."""
    assert model.torch_builder is not None
    if weights.path is not None and not weights.path.endswith((".pth", ".pt")):
        raise NoRoute(
            f"the PyTorch twin of {model.name} cannot load {weights.name} Keras weights; "
            "use --weights random, or a model with PyTorch weights (mobilenet_v2.tv_in1k)"
        )
    module, _, func = model.torch_builder.partition(":")
    build = getattr(importlib.import_module(module), func)
    build(out_dir / "model.pt2", weights=weights.path, **model.torch_builder_kwargs)
    return "model.pt2"
