"""ONNX graph clean-up before another tool takes a graph: every input's shape made static,
constant shape arithmetic folded (onnxslim), weights no longer listed as graph inputs.

Exporters write shape arithmetic into graphs (PaddlePaddle: Shape, Cast, Slice, Concat into a
Reshape) that importers refuse or cannot trace, and graphs of IR version 3 list their weights
among the graph's inputs. Imported only inside a worker process.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from edgebench.errors import UsageError
from edgebench.models import ModelSpec


def static_shapes(onnx_model: Any, model: ModelSpec, batch: int, who: str) -> dict[str, list[int]]:
    """Each graph input's full shape for `batch`, from the model spec (dynamic per-sample
    sizes come from --input-shape).

    Raises:
        UsageError: an input whose size is still dynamic.
    """
    weights = {init.name for init in onnx_model.graph.initializer}
    inputs = [i for i in onnx_model.graph.input if i.name not in weights]
    shapes: dict[str, list[int]] = {}
    for graph_input, spec in zip(inputs, model.inputs, strict=True):
        if not spec.is_static:
            raise UsageError(
                f"{who} needs a static shape for input '{spec.name}': give it with --input-shape"
            )
        shapes[graph_input.name] = [batch, *(d for d in spec.shape if d is not None)]
    return shapes


def slimmed(onnx_model: Any, shapes: dict[str, list[int]]) -> Any:
    """A copy of the graph with its inputs' shapes fixed, constant shape arithmetic folded, and
    no weight listed among its inputs."""
    import onnxslim

    fixed = type(onnx_model)()
    fixed.CopyFrom(onnx_model)
    for graph_input in fixed.graph.input:
        if graph_input.name in shapes:
            dims = graph_input.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[graph_input.name], strict=False):
                dim.Clear()
                dim.dim_value = size
    out = onnxslim.slim(fixed)
    weights = {init.name for init in out.graph.initializer}
    inputs = [i for i in out.graph.input if i.name not in weights]
    if len(inputs) != len(out.graph.input):
        del out.graph.input[:]
        out.graph.input.extend(inputs)
    return out


def cleanup_note(before: Any, after: Any, why: str = "") -> str:
    """What the clean-up did, for an artifact's info (`onnx_cleanup`)."""
    nodes = f"{len(before.graph.node)} -> {len(after.graph.node)} nodes"
    note = f"onnxslim {version('onnxslim')}: {nodes}"
    return f"{note}, {why}" if why else note


__all__ = ["cleanup_note", "slimmed", "static_shapes"]
