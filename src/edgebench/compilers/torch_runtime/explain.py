"""Explains a `torch` cell: the torch.export program (ATen ops) the cell starts from; for
torch.compile, the graph breaks TorchDynamo finds and the kernels inductor generated, in call
order, read from inductor's own wrapper code (its fused C++ or Triton kernels, and the oneDNN,
MKL and ATen kernels it calls, with the post-ops it fused into them); for eager, the ATen ops
executed; and per-op time from the torch profiler (self CPU time, so that nested ops are
counted once).
"""

from __future__ import annotations

import ast
import bisect
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import Node, OpGraph, engines_summary, torch_graph
from edgebench.explain.profile import OpTime, shares_of_runs
from edgebench.explain.taxonomy import deciding_op
from edgebench.models.torch_program import load_program

RUN_MARK = "edgebench::run"  # the profiler range around each timed run
MODEL_MARK = "edgebench::model"  # ... and around the module's call in it (no input copies)

# Inductor names a fused kernel after the ATen ops it fuses: these take several words.
_MULTIWORD = sorted(
    (
        "_native_batch_norm_legit_no_training",
        "_native_batch_norm_legit",
        "native_batch_norm",
        "batch_norm",
        "native_layer_norm",
        "layer_norm",
        "group_norm",
        "max_pool2d_with_indices",
        "adaptive_avg_pool2d",
        "avg_pool2d",
        "max_pool2d",
        "constant_pad_nd",
        "_to_copy",
        "_softmax",
        "_log_softmax",
        "clamp_min",
        "clamp_max",
        "index_select",
        "_unsafe_view",
        "upsample_nearest2d",
        "upsample_bilinear2d",
        "scaled_dot_product",
        "leaky_relu",
    ),
    key=len,
    reverse=True,
)
_READABLE = {
    "_native_batch_norm_legit_no_training": "batch_norm",
    "_native_batch_norm_legit": "batch_norm",
    "native_batch_norm": "batch_norm",
    "native_layer_norm": "layer_norm",
}
_KERNEL = re.compile(r"^(?:graph_\d+_)?((?:cpp|triton(?:_[a-z]+)?)_fused_\w*?)(?:_\d+)?$")
_CALL = re.compile(
    r"^\s*(?:\w+\s*=\s*)?(?P<callee>(?:cpp|triton)_\w+|extern_kernels\.\w+|"
    r"torch\.ops\.\w+\.\w+(?:\.\w+)?|aten\.\w+(?:\.\w+)?)(?:\.run)?\((?P<args>.*)\)\s*$"
)
# The library behind each extern kernel's namespace: where it ran.
_ENGINES = {"mkldnn": "oneDNN", "mkl": "MKL", "aten": "ATen", "extern_kernels": "ATen"}


def split_kernel_name(name: str) -> list[str]:
    """The ATen ops a fused kernel is named after: `cpp_fused__native_batch_norm_legit_no_
    training_hardtanh_3` -> [batch_norm, hardtanh]; `cpp_fused_0` -> []."""
    match = _KERNEL.match(name)
    body = match.group(1) if match else name
    body = re.sub(r"^(?:cpp|triton(?:_[a-z]+)?)_fused_?", "", body)
    parts: list[str] = []
    rest = body
    while rest:
        rest = rest.lstrip("_") if not any(rest.startswith(m) for m in _MULTIWORD) else rest
        word = next((m for m in _MULTIWORD if rest.startswith(m)), None)
        if word is None:
            word, _, _ = rest.partition("_")
        if word and not word.isdigit():
            parts.append(_READABLE.get(word, word))
        rest = rest[len(word) :]
        if not word:
            break
    return parts


def kernel_base(name: str) -> str:
    """`graph_0_cpp_fused_mean_1` -> `cpp_fused_mean_1`: the profiler's name for a kernel
    without the graph it belongs to."""
    return re.sub(r"^graph_\d+_", "", name)


@dataclass
class Kernel:
    """One kernel call in inductor's wrapper code."""

    callee: str  # cpp_fused_mean_1, extern_kernels.convolution, torch.ops.mkldnn._conv...
    parts: tuple[str, ...]  # the ops it computes: [convolution, hardtanh]
    engine: str
    depthwise: bool = False


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _extern(callee: str, args_text: str) -> Kernel:
    """An extern or fallback kernel call: the op, its groups, and its fused post-ops
    (oneDNN's `_convolution_pointwise(..., groups, 'hardtanh', [0.0, 6.0], '')`)."""
    parts = callee.split(".")
    if parts[0] == "extern_kernels":
        ns, op = "aten", parts[1]
    elif parts[0] == "torch":
        ns, op = parts[2], parts[3]
    else:
        ns, op = parts[0], parts[1]
    post: list[str] = []
    groups = 1
    try:
        call = ast.parse(f"f({args_text})", mode="eval").body
    except SyntaxError:
        call = None
    if isinstance(call, ast.Call):
        values = [_literal(a) for a in call.args]
        strings = [i for i, v in enumerate(values) if isinstance(v, str)]
        # oneDNN's fused convolutions: ..., groups, 'attr', [scalars], 'algorithm'.
        if strings and strings[0] and isinstance(values[strings[0] - 1], int):
            groups = values[strings[0] - 1]
        post = [values[i] for i in strings if values[i] not in ("", "none")]
        for kw in call.keywords:
            if kw.arg == "groups" and isinstance(_literal(kw.value), int):
                groups = _literal(kw.value)
    conv = "convolution" in op
    base = "convolution" if conv else op.lstrip("_")
    # For a binary post-op (a residual add) oneDNN still names the unary one after it.
    post = [p for p in post if re.fullmatch(r"[a-z_0-9]+", p)]
    return Kernel(f"{ns}::{op}", (base, *post), _ENGINES.get(ns, ns), conv and groups > 1)


def wrapper_kernels(code: str) -> list[Kernel]:
    """The kernel calls of inductor's generated wrapper (`Runner.call`), in order."""
    kernels: list[Kernel] = []
    inside = False
    for line in code.splitlines():
        if re.match(r"^\s*def call\(", line):
            inside = True
            continue
        if inside and re.match(r"^\S", line):  # the end of the class or function
            inside = False
        if not inside:
            continue
        match = _CALL.match(line)
        if match is None:
            continue
        callee, args = match.group("callee"), match.group("args")
        if callee.startswith(("cpp_", "triton_")):
            engine = "inductor C++" if callee.startswith("cpp_") else "inductor Triton"
            kernels.append(Kernel(callee, tuple(split_kernel_name(callee)), engine))
        elif callee.startswith(("extern_kernels.", "torch.ops.", "aten.")):
            kernels.append(_extern(callee, args))
    return kernels


def kernel_node(index: int, kernel: Kernel) -> Node:
    name = kernel.callee
    if name.startswith(("cpp_", "triton_")):
        op = deciding_op(kernel.parts) if kernel.parts else name
        label = "cpp_fused" if name.startswith("cpp_") else "triton_fused"
        label += f"({'+'.join(kernel.parts)})" if kernel.parts else ""
    else:
        op = name.partition("::")[2].lstrip("_") or name
        label = "+".join((name, *kernel.parts[1:]))
    return Node(
        f"{name}#{index}",
        op,
        depthwise=kernel.depthwise,
        origins=kernel.parts,
        engine=kernel.engine,
        label=label,
    )


def fusions(kernels: list[Kernel]) -> list[dict[str, Any]]:
    """Kernels that compute two or more ATen ops, grouped by what they fuse."""
    patterns: Counter[tuple[str, str]] = Counter()
    for k in kernels:
        if len(k.parts) < 2:
            continue
        if k.callee.startswith("cpp_"):
            after = "inductor C++ kernel (cpp_fused)"
        elif k.callee.startswith("triton_"):
            after = "inductor Triton kernel"
        else:
            after = f"{k.callee} with post-ops"
        patterns["+".join(k.parts), after] += 1
    return [{"before": b, "after": a, "count": c} for (b, a), c in patterns.most_common()]


# --- the profiler ------------------------------------------------------------------------------
def _is_op(name: str) -> bool:
    return "::" in name or bool(_KERNEL.match(name))


def _depthwise_shapes(shapes: Any) -> bool:
    """A convolution whose weight has one input channel per group on a multi-channel input."""
    try:
        x, w = shapes[0], shapes[1]
        return len(w) == 4 and w[1] == 1 and x[1] > 1
    except (IndexError, TypeError):
        return False


def _timed_runs(prof: Any, runs: int) -> list[list[Any]]:
    """The profiler's events of each of the last `runs` runs (the timed runs, not the warm-up
    ones before them), by the run range they fall in."""
    marks = sorted(
        (e.time_range.start, e.time_range.end) for e in prof.events() if e.name == RUN_MARK
    )[-runs:]
    starts = [m[0] for m in marks]
    grouped: list[list[Any]] = [[] for _ in marks]
    for e in prof.events():
        k = bisect.bisect_right(starts, e.time_range.start) - 1
        if e.name not in (RUN_MARK, MODEL_MARK) and k >= 0 and e.time_range.start <= marks[k][1]:
            grouped[k].append(e)
    return grouped


def profile_ops(prof: Any, runs: int, nodes: dict[str, Node]) -> list[OpTime]:
    """Median self CPU time per run of each op or kernel over the last `runs` runs (a run
    that another process interrupted does not skew it), convolutions split into depthwise
    and others by their weights' shape; the profiler's framework ranges are left out."""
    per_run: list[dict[tuple[str, bool], float]] = []
    for events in _timed_runs(prof, runs):
        totals: dict[tuple[str, bool], float] = defaultdict(float)
        for e in events:
            if _is_op(e.name):
                conv = "conv" in e.name and not _KERNEL.match(e.name)
                totals[e.name, conv and _depthwise_shapes(e.input_shapes)] += (
                    e.self_cpu_time_total / 1e3
                )
        per_run.append(totals)
    keys = {k for totals in per_run for k in totals}
    ops: list[OpTime] = []
    for name, depthwise in sorted(keys):
        ms = statistics.median(totals.get((name, depthwise), 0.0) for totals in per_run)
        if _KERNEL.match(name):
            base = kernel_base(name)
            node = nodes.get(base)
            if node is not None:
                ops.append(OpTime(base, node.op, ms, node.engine, depthwise=node.depthwise))
            else:
                ops.append(OpTime(base, base, ms, "inductor", kernel=True))
            continue
        ns, _, op = name.partition("::")
        op = op.lstrip("_") + (" (depthwise)" if depthwise else "")
        shown = f"{name} [depthwise]" if depthwise else name
        ops.append(OpTime(shown, op, ms, _ENGINES.get(ns, ns), depthwise=depthwise))
    return ops


def executed_ops(prof: Any) -> list[Node]:
    """The ATen ops of one eager run, in order: the profiler's events directly under the
    module's call in the last run (the inputs' copies are left out)."""
    events = [e for e in prof.events() if e.name == MODEL_MARK][-1:]
    if not events:
        return []
    children = sorted(events[0].cpu_children, key=lambda e: e.time_range.start)
    nodes = []
    for k, e in enumerate(children):
        if not _is_op(e.name):
            continue
        conv = "conv" in e.name
        nodes.append(
            Node(
                f"{e.name}#{k}",
                e.name,  # aten::conv2d, as the program's reader names its ops
                depthwise=conv and _depthwise_shapes(e.input_shapes),
                engine="ATen (eager)",
            )
        )
    return nodes


@contextmanager
def _inductor_config(**values: Any) -> Iterator[None]:
    import torch._inductor.config as inductor

    with inductor.patch(values):
        yield


def explain(request: ExplainRequest) -> Findings:
    from torch.profiler import ProfilerActivity, profile, record_function

    from edgebench.compilers.torch_runtime import ModuleRuntime

    mode = str(request.options.get("torch_compile", "default"))
    freezing = bool(request.options.get("torch_freezing", True))
    device = str(request.options.get("device", "cpu"))
    program = load_program(request.artifact)
    # The program as the shared reader sees it (the same one ExecuTorch's explainer shows).
    findings = Findings(before=torch_graph(program.graph, program.graph_signature))
    placement: dict[str, Any] = {"mode": mode, "device": device}
    inputs = request.inputs
    if mode != "none":
        placement["freezing"] = freezing
        _graph_breaks(program, inputs, placement, findings)
    code: list[str] = []
    # Inductor's C++ kernels name themselves to the profiler only when asked to.
    with _inductor_config(**{"cpp.enable_kernel_profile": True}):
        runtime = ModuleRuntime(
            request.artifact, request.batch, request.threads, request.precision, request.options
        )
        if mode != "none":
            from torch._inductor.utils import run_and_get_code

            _, code = run_and_get_code(runtime.predict, inputs)  # compiles here
        module = runtime.module

        def call(*xs: Any) -> Any:
            with record_function(MODEL_MARK):
                return module(*xs)

        runtime.module = call

        def run() -> None:
            with record_function(RUN_MARK):
                runtime.predict(inputs)

        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            wall = request.time_runs(run)
    if mode == "none":
        nodes = executed_ops(prof)
        findings.fusions = []
        findings.notes.append("eager: every ATen op runs as its own kernel; nothing is fused")
    else:
        kernels = [k for c in code for k in wrapper_kernels(c)]
        nodes = [kernel_node(i, k) for i, k in enumerate(kernels)]
        findings.fusions = fusions(kernels)
        if not code:
            findings.notes.append("inductor's generated code could not be captured")
        _frozen_note(findings, kernels, freezing)
    findings.after = OpGraph("torch" if mode == "none" else "inductor", nodes)
    placement["engines"] = engines_summary(findings.after.compute_nodes())
    findings.placement = placement
    if device != "cpu":
        findings.profile_error = "the torch explainer profiles CPU time only; this ran on CUDA"
        return findings
    by_kernel = {n.name.partition("#")[0]: n for n in nodes}
    ops = profile_ops(prof, len(wall), by_kernel)
    if not ops:
        findings.profile_error = "the torch profiler recorded no op"
    else:
        findings.profile = shares_of_runs(ops, wall, "torch profiler (self CPU time)")
    return findings


def _graph_breaks(
    program: Any, inputs: list[Any], placement: dict[str, Any], findings: Findings
) -> None:
    """TorchDynamo's graphs and graph breaks for the program's module, from
    `torch._dynamo.explain` (it traces; nothing is compiled)."""
    import torch

    try:
        with torch.inference_mode():
            xs = [torch.from_numpy(x) for x in inputs]
            result = torch._dynamo.explain(program.module())(*xs)
    except Exception as exc:  # dynamo cannot trace it: say so, keep the rest
        findings.notes.append(f"torch._dynamo.explain failed: {type(exc).__name__}: {exc}"[:300])
        return
    finally:
        torch._dynamo.reset()
    placement["graphs"] = int(result.graph_count)
    placement["graph_breaks"] = int(result.graph_break_count)
    reasons = Counter(str(getattr(r, "reason", r)).splitlines()[0] for r in result.break_reasons)
    for reason, n in reasons.most_common(5):
        findings.notes.append(f"graph break ({n}x): {reason}"[:300])


def _frozen_note(findings: Findings, kernels: list[Kernel], freezing: bool) -> None:
    before = findings.before
    if before is None:
        return
    norms = sum(1 for n in before.compute_nodes() if "batch_norm" in n.op)
    kept = sum(1 for k in kernels if "batch_norm" in k.parts)
    if norms and freezing and not kept:
        findings.notes.append(
            f"freezing folded the {norms} batch norms into the convolution weights"
        )
