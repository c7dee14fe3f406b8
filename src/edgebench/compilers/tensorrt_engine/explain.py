"""Explains a `tensorrt` cell: the engine's layers from TensorRT's engine inspector (built with
detailed profiling verbosity: each layer's type, tactic, output precision, and the ONNX nodes it
fused, which TensorRT joins into the layer's name with " + "), and per-layer time from an
`IProfiler` on the execution context. Needs an NVIDIA GPU with TensorRT, like the compiler."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from typing import Any

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import Node, OpGraph, engines_summary
from edgebench.explain.profile import OpTime, shares_of_runs

_PRECISION = re.compile(r"\b(FP32|FP16|BF16|FP8|Int8|INT8|Int32|Bool)\b")


def engine_graph(info: dict[str, Any]) -> OpGraph:
    """An OpGraph from the inspector's JSON (`{"Layers": [...]}`): dicts under detailed
    verbosity, bare layer names otherwise."""
    nodes = []
    for k, layer in enumerate(info.get("Layers", [])):
        if isinstance(layer, str):
            layer = {"Name": layer}
        name = str(layer.get("Name", f"layer_{k}"))
        outputs = layer.get("Outputs") or []
        formats = " ".join(str(o.get("Format/Datatype", "")) for o in outputs)
        found = _PRECISION.search(formats)
        nodes.append(
            Node(
                name,
                str(layer.get("LayerType", "Unknown")),
                tuple(str(i.get("Name", "")) for i in layer.get("Inputs") or []),
                tuple(str(o.get("Name", "")) for o in outputs),
                # "Conv_0 + BatchNormalization_1 + Relu_2": the ONNX nodes TensorRT fused.
                origins=tuple(p.strip() for p in re.split(r"\s\+\s", name) if p.strip()),
                engine=str(layer.get("TacticName") or "TensorRT"),
                precision=found.group(1).upper() if found else "",
            )
        )
    return OpGraph("tensorrt", nodes)


def explain(request: ExplainRequest) -> Findings:
    import tensorrt as trt

    from edgebench.compilers.tensorrt_engine import EngineRuntime

    runtime = EngineRuntime(request.artifact)
    inspector = runtime.engine.create_engine_inspector()
    inspector.execution_context = runtime.context
    after = engine_graph(
        json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    )
    computed = after.compute_nodes()
    findings = Findings(after=after)
    findings.placement = {
        "engines": engines_summary(computed),
        "runtime_precisions": dict(Counter(n.precision or "?" for n in computed).most_common()),
    }
    if all(not n.outputs for n in after.nodes):
        findings.notes.append(
            "the engine was built without detailed profiling verbosity: layer names only"
        )

    class LayerTimes(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.ms: dict[str, float] = defaultdict(float)

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self.ms[layer_name] += ms

    profiler = LayerTimes()
    runtime.context.profiler = profiler
    calls = [0]

    def run() -> None:
        runtime.predict(request.inputs)
        calls[0] += 1

    wall = request.time_runs(run)
    kinds = {n.name: n.op for n in after.nodes}
    ops = [
        OpTime(name, kinds.get(name, name), total / max(calls[0], 1), "TensorRT")
        for name, total in profiler.ms.items()
    ]
    if not ops:
        findings.profile_error = "TensorRT's profiler reported no layer times"
    else:
        findings.profile = shares_of_runs(ops, wall, "TensorRT IProfiler")
    return findings
