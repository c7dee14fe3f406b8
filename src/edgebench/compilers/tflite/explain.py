"""Explains a `tflite` cell: the LiteRT graph (fused activations shown), which nodes the XNNPACK
delegate took and which fell back to TFLite's own kernels, and per-op time from LiteRT's own
profiler (driven through its C API: the Python interpreter has none)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import OpGraph, engines_summary, read_tflite
from edgebench.explain.profile import OpTime, ProfileUnavailable, shares_of_runs

XNNPACK = "XNNPACK"
KERNELS = "TFLite kernels"


def delegated_nodes(ops: list[dict[str, Any]]) -> dict[int, int]:
    """Which original nodes each delegate node took: {node index: partition number}.

    After delegation the interpreter lists the original nodes, then one DELEGATE node per
    partition whose inputs and outputs are the partition's boundary tensors: every original
    node between them belongs to the partition."""
    originals = [o for o in ops if o["op_name"] != "DELEGATE"]
    producer = {int(t): o["index"] for o in originals for t in o["outputs"]}
    inputs_of = {o["index"]: [int(t) for t in o["inputs"] if t >= 0] for o in originals}
    taken: dict[int, int] = {}
    for k, node in enumerate(o for o in ops if o["op_name"] == "DELEGATE"):
        boundary = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        while stack:
            index = producer.get(stack.pop())
            if index is None or index in taken:
                continue
            taken[index] = k
            stack.extend(t for t in inputs_of[index] if t not in boundary)
    return taken


def _placement(request: ExplainRequest, after: OpGraph, xnnpack: bool) -> dict[str, Any]:
    from edgebench.compilers.tflite import InterpreterRuntime

    runtime = InterpreterRuntime(
        request.artifact, request.model, request.batch, request.threads, xnnpack
    )
    ops = runtime.interpreter._get_ops_details()  # LiteRT has no public form of this
    taken = delegated_nodes(ops)
    originals = [o for o in ops if o["op_name"] != "DELEGATE"]
    if len(originals) == len(after.nodes):  # the interpreter keeps the flatbuffer's order
        for o, node in zip(originals, after.nodes, strict=True):
            node.engine = XNNPACK if o["index"] in taken else KERNELS
    fallback = Counter(o["op_name"] for o in originals if o["index"] not in taken)
    return {
        "engines": engines_summary(after.compute_nodes()),
        "delegate": XNNPACK if xnnpack else "none (XNNPACK switched off)",
        "partitions": len({*taken.values()}),
        "fallback_ops": dict(fallback.most_common()) if xnnpack else {},
    }


def accelerated_placement(request: ExplainRequest, after: OpGraph) -> Findings:
    """A GPU or NPU cell: what the accelerator took, as LiteRT reports it once the model is
    loaded on it; LiteRT's CompiledModel has no per-op profiler in Python, so the time is the
    whole run's."""
    from edgebench.compilers.tflite.accelerated import CompiledModelRuntime
    from edgebench.compilers.tflite.npu import dispatch_ops

    runtime = CompiledModelRuntime(
        request.artifact, request.model, request.batch, request.threads, request.accelerator,
        request.precision, request.options,
    )  # fmt: skip
    info = runtime.accelerator_info()
    runtime.close()
    device = f"{request.accelerator.upper()}: {info.get('device', '?')}" + (
        " (software)" if info.get("software") else ""
    )
    placement: dict[str, Any] = {
        "delegate": device,
        "fully_accelerated": info.get("fully_accelerated"),
    }
    if request.accelerator == "npu":
        on_npu, on_cpu = dispatch_ops(request.artifact)
        placement.update({"engines": {"NPU dispatch": on_npu, "CPU": on_cpu}, "partitions": on_npu})
    else:
        nodes = len(after.compute_nodes())
        on_gpu = nodes if info.get("fully_accelerated") else None
        placement["engines"] = {device: on_gpu} if on_gpu is not None else {}
    return Findings(
        after=after,
        placement=placement,
        profile_error=(
            f"LiteRT's CompiledModel ({request.accelerator.upper()}) has no per-op profiler in "
            "Python: the accelerator's time is the whole run's"
        ),
    )


def explain(request: ExplainRequest) -> Findings:
    from edgebench.compilers.tflite._litert_capi import profile_ops

    if request.accelerator != "cpu":
        return accelerated_placement(request, read_tflite(request.artifact))
    xnnpack = bool(request.options.get("xnnpack", True))
    after = read_tflite(request.artifact)
    findings = Findings(after=after, placement=_placement(request, after, xnnpack))
    from edgebench.compilers.tflite.weights import weight_summary

    findings.placement["weights"] = weight_summary(request.artifact)
    try:
        profiled = profile_ops(
            str(request.artifact), request.threads, request.inputs, request.time_runs, xnnpack
        )
    except (ProfileUnavailable, ValueError, OSError) as exc:
        findings.profile_error = f"LiteRT profiler: {str(exc).splitlines()[0][:300]}"
        return findings
    engine = {"delegate_op": XNNPACK, "delegate_internal": XNNPACK, "builtin_op": KERNELS}
    ops = [
        OpTime(e["name"], e["name"], e["ms_per_run"], engine.get(e["type"], ""))
        for e in profiled["events"]
    ]
    ops, as_gemm = attribute_to_graph(ops, after)
    if as_gemm:
        findings.placement["run_as_gemm"] = as_gemm
    findings.profile = shares_of_runs(ops, profiled["walls_ms"], "LiteRT profiler")
    return findings


# Kernel categories that do the work of a node of another category: a fully-connected GEMM
# doing a convolution (XNNPACK runs 1x1 convolutions on NHWC data as GEMMs), a Convert doing a
# (de)quantization.
_STANDS_FOR = {("matmul/dense", "conv"), ("elementwise", "quantize/dequantize")}


def _compatible(kernel: str, node: str) -> bool:
    return kernel == node or (kernel, node) in _STANDS_FOR


def attribute_to_graph(ops: list[OpTime], after: OpGraph) -> tuple[list[OpTime], dict[str, int]]:
    """XNNPACK's kernel times, each named after the graph op it computes.

    The delegate's kernels run in the order of the nodes it took, so kernels are matched to
    those nodes in order by category (a kernel with no match in the next few nodes keeps its
    own name). A "Fully Connected" kernel matched to a CONV_2D stays a conv: the time of a
    1x1 convolution is conv time, and the count of such GEMMs goes to placement.
    """
    nodes = [n for n in after.compute_nodes() if n.engine == XNNPACK]
    out, as_gemm, j = [], 0, 0
    for op in ops:
        if op.engine != XNNPACK:
            out.append(op)
            continue
        kernel = op.category
        match = next(
            (k for k in range(j, min(j + 4, len(nodes))) if _compatible(kernel, nodes[k].category)),
            None,
        )
        if match is None:
            out.append(op)
            continue
        node, j = nodes[match], match + 1
        if kernel == "matmul/dense" and node.category == "conv":
            as_gemm += 1
        out.append(OpTime(node.name, node.op, op.ms, XNNPACK, depthwise=node.depthwise))
    return out, ({"1x1 convolutions run as GEMM": as_gemm} if as_gemm else {})
