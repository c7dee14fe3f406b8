"""ONNX graph clean-up before another tool takes a graph: every input's shape made static,
constant shape arithmetic folded (onnxslim), weights no longer listed as graph inputs.

Exporters write shape arithmetic into graphs (PaddlePaddle: Shape, Cast, Slice, Concat into a
Reshape) that importers refuse or cannot trace, and graphs of IR version 3 list their weights
among the graph's inputs. Imported only inside a worker process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
        shapes[graph_input.name] = list(spec.feed_shape(batch))
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


# The names TensorFlow takes for an op; onnx2tf names each op after its ONNX node or tensor.
TF_OP_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*")


def tf_safe_names(onnx_model: Any) -> int:
    """Renames, in place, the nodes and inner tensors whose names TensorFlow refuses for an op,
    and returns how many names changed. The graph's inputs and outputs keep theirs (cells feed
    and read them by name).

    tf2onnx keeps TFLite's fused names ('model/re_lu/Relu6;model/batch_normalization/...;
    model/conv2d/Conv2D'), and onnx2tf's SavedModel export of MediaPipe's pose landmarker failed
    on them: 'Generation of saved_model failed because the OP name does not match the following
    pattern' (its advice, `-osd`, fails the same way)."""
    graph = onnx_model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    taken = set(_names(graph))
    renamed: dict[str, str] = {}

    def safe(name: str) -> str:
        if not name or name in keep or TF_OP_NAME.fullmatch(name):
            return name
        if name not in renamed:
            base = re.sub(r"[^A-Za-z0-9_.\\/>-]", "_", name)
            base = base if TF_OP_NAME.fullmatch(base) else f"n{base}"
            new, n = base, 1
            while new in taken:
                new, n = f"{base}_{n}", n + 1
            taken.add(new)
            renamed[name] = new
        return renamed[name]

    _rename(graph, safe)
    return len(renamed)


def _subgraphs(graph: Any) -> list[Any]:
    from onnx import AttributeProto

    found = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                found.append(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                found.extend(attr.graphs)
    return found


def _names(graph: Any) -> list[str]:
    names = [n.name for n in graph.node]
    for node in graph.node:
        names += [*node.input, *node.output]
    names += [t.name for t in graph.initializer]
    names += [v.name for v in (*graph.input, *graph.output, *graph.value_info)]
    for sub in _subgraphs(graph):
        names += _names(sub)
    return names


def _rename(graph: Any, safe: Callable[[str], str]) -> None:
    """Applies `safe` to every name in the graph and its subgraphs (an If's branches read the
    outer graph's tensors by name)."""
    for node in graph.node:
        node.name = safe(node.name)
        for i, name in enumerate(node.input):
            node.input[i] = safe(name)
        for i, name in enumerate(node.output):
            node.output[i] = safe(name)
    for tensor in graph.initializer:
        tensor.name = safe(tensor.name)
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = safe(value.name)
    for sub in _subgraphs(graph):
        _rename(sub, safe)


def cleanup_note(before: Any, after: Any, why: str = "") -> str:
    """What the clean-up did, for an artifact's info (`onnx_cleanup`)."""
    nodes = f"{len(before.graph.node)} -> {len(after.graph.node)} nodes"
    note = f"onnxslim {version('onnxslim')}: {nodes}"
    return f"{note}, {why}" if why else note


__all__ = ["cleanup_note", "slimmed", "static_shapes", "tf_safe_names"]
