"""Explains an `openvino` cell: the runtime graph OpenVINO's CPU plugin executes (each layer's
kernel, its runtime precision, and the source layers fused into it), and per-layer time from
OpenVINO's performance counters."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import Node, OpGraph, engines_summary
from edgebench.explain.profile import OpTime, shares_of_runs

_PRECISION_SUFFIX = re.compile(r"_(f32|f16|bf16|i8|u8|i32|i64|fp32|fp16|int8|uint8)$", re.I)


def kernel_family(primitive: str) -> str:
    """`brgconv_avx512_f32` -> `brgconv_avx512`: the implementation, without its precision."""
    return _PRECISION_SUFFIX.sub("", primitive) or primitive


def _runtime_graph(compiled: Any) -> OpGraph:
    nodes = []
    constants = set()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()

        def get(key: str, info: Any = info) -> str:
            return str(info[key].astype(str)) if key in info else ""

        name, layer = op.get_friendly_name(), get("layerType")
        primitive = get("primitiveType")
        if layer == "Const":
            constants.add(name)
        nodes.append(
            Node(
                name,
                layer,
                tuple(i.get_source_output().get_node().get_friendly_name() for i in op.inputs()),
                (name,),
                depthwise="_dw" in primitive or layer == "GroupConvolution",
                origins=tuple(x for x in get("originalLayersNames").split(",") if x),
                engine=kernel_family(primitive),
                precision=get("runtimePrecision"),
            )
        )
    return OpGraph("openvino", nodes, constants)


def _counters(runtime: Any) -> dict[tuple[str, str, str], float]:
    """The executed layers' mean real time so far, in ms."""
    return {
        (p.node_name, p.node_type, p.exec_type): p.real_time.total_seconds() * 1e3
        for p in runtime.request.get_profiling_info()
        if str(p.status).rpartition(".")[2] == "EXECUTED"
    }


def explain(request: ExplainRequest) -> Findings:
    from edgebench.compilers.openvino_runtime import CompiledRuntime

    runtime = CompiledRuntime(
        request.artifact, request.model, request.batch, request.threads, request.options, True
    )
    after = _runtime_graph(runtime.compiled)
    computed = after.compute_nodes()
    fallback = Counter(n.op for n in computed if n.engine.startswith("ref"))
    findings = Findings(after=after)
    findings.placement = {
        "engines": engines_summary(computed),
        "device": str(request.options.get("ov_device", "CPU")).upper(),
        "runtime_precisions": dict(Counter(n.precision for n in computed).most_common()),
        "fallback_ops": dict(fallback.most_common()),  # layers on reference (ref_*) kernels
    }
    # The CPU plugin's counters are running means over every inference of the request since
    # it was made (the cold first one included). Two readings, before and after the
    # profiled runs, give the mean over those runs alone.
    calls = [0]

    def run() -> None:
        runtime.predict(request.inputs)
        calls[0] += 1

    for _ in range(2):
        run()
    start, n_start = _counters(runtime), calls[0]
    wall = request.time_runs(run)
    end, n_end = _counters(runtime), calls[0]
    runtime.close()
    per_layer = {
        # (counters have 1 us resolution: a tiny layer can come out a hair below zero)
        key: max(0.0, (mean * n_end - start.get(key, 0.0) * n_start) / (n_end - n_start))
        for key, mean in end.items()
    }
    ops = [
        OpTime(name, layer, ms, kernel_family(kernel), depthwise="_dw" in kernel)
        for (name, layer, kernel), ms in per_layer.items()
        if layer not in ("Parameter", "Result", "Input", "Output", "Const")
    ]
    if not ops:
        findings.profile_error = "OpenVINO's performance counters reported no executed layer"
    else:
        findings.profile = shares_of_runs(ops, wall, "OpenVINO performance counters")
    return findings
