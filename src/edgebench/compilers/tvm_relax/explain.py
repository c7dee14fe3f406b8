"""Explains a `tvm` cell: the kernels the built Relax VM program calls, in call order (read from
the executable's own bytecode), what each fused kernel was made of, and per-kernel time from the
VM's instrumentation hook.

The untuned build goes through `tvm.compile`'s default pipeline, which legalizes each Relax
operator into its own TIR kernel and fuses nothing; a tuned build goes through the static-shape
tuning pipeline, which fuses (FuseOps, FuseTIR) before it tunes. To say what each kernel is
made of, the module is rebuilt from the ONNX source the way the compiler builds it and lowered
with the same passes up to fusion. TVM 0.27's VM has no profiler of its own (no
`profile=True`): its instrument hook, called before and after every VM call, times each kernel.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import Node, OpGraph, engines_summary
from edgebench.explain.profile import OpTime, shares_of_runs
from edgebench.explain.taxonomy import category, deciding_op

_CALL = re.compile(r"^\s*call\s+(\S+)\s+in:(.*?)\s+dst:\s*(\S+)\s*$")
_BLOCK = re.compile(r'T\.sblock\("([^"]+)"')
_BUILTIN = "vm.builtin."


@dataclass
class Kernel:
    """What a built kernel is made of: the operators fused into it (one for an unfused
    kernel) and whether its convolution is grouped (depthwise)."""

    parts: tuple[str, ...]
    depthwise: bool = False


def vm_calls(executable_text: str, function: str = "main") -> list[tuple[str, tuple[str, ...]]]:
    """The calls of one VM function in order, from the executable's `as_text()`:
    [(callee, arguments)]; the VM's builtins (allocation, shape checks) included."""
    calls: list[tuple[str, tuple[str, ...]]] = []
    inside = False
    for line in executable_text.splitlines():
        if line.startswith("@"):
            inside = line.rstrip() == f"@{function}:"
            continue
        match = _CALL.match(line) if inside else None
        if match:
            args = tuple(a.strip() for a in match.group(2).split(",") if a.strip())
            calls.append((match.group(1), args))
    return calls


def _strip_digits(name: str) -> str:
    return re.sub(r"\d+$", "", name)


def _is_depthwise(func: Any) -> bool:
    """A TIR function whose compute blocks are a grouped or depthwise convolution."""
    try:
        blocks = _BLOCK.findall(func.script())
    except Exception:  # a function TVMScript cannot print: no hint
        return False
    return any("group_conv" in b or "depthwise" in b.lower() for b in blocks)


def rebuilt_kernels(request: ExplainRequest, fused: bool) -> dict[str, Kernel]:
    """Each kernel of the build by name, from the module rebuilt the compiler's way and
    lowered up to fusion: the untuned build's default pipeline legalizes without fusing; the
    tuning pipeline (`fused`) decomposes batch norms, legalizes, folds constants and fuses."""
    import tvm
    from tvm import relax
    from tvm.relax import transform

    from edgebench.compilers.tvm_relax import llvm_target, relax_module

    assert request.source is not None
    mod = relax_module(request.source, request.model, request.batch)
    passes = (
        [
            transform.DecomposeOpsForInference(),
            transform.CanonicalizeBindings(),
            transform.LegalizeOps(),
            transform.AnnotateTIROpPattern(),
            transform.FoldConstant(),
            transform.FuseOps(),
        ]
        if fused
        else [relax.backend.DispatchSampling(), relax.backend.DispatchSortScan(),
              transform.LegalizeOps()]
    )  # fmt: skip
    with llvm_target():
        mod = tvm.transform.Sequential(passes)(mod)
    kernels: dict[str, Kernel] = {}
    depthwise: dict[str, bool] = {}
    for gv, func in mod.functions.items():
        if isinstance(func, tvm.tirx.PrimFunc):
            depthwise[gv.name_hint] = _is_depthwise(func)
            kernels[gv.name_hint] = Kernel((_strip_digits(gv.name_hint),), depthwise[gv.name_hint])
    if not fused:
        return kernels
    for gv, func in mod.functions.items():  # the fused (primitive) Relax functions
        if isinstance(func, relax.Function) and func.attrs and "Primitive" in func.attrs:
            called: list[str] = []

            def visit(expr: Any, called: list[str] = called) -> None:
                op = getattr(expr, "op", None) if isinstance(expr, relax.Call) else None
                if isinstance(op, tvm.ir.Op) and op.name == "relax.call_tir":
                    called.append(expr.args[0].name_hint)

            relax.analysis.post_order_visit(func.body, visit)
            kernels[gv.name_hint] = Kernel(
                tuple(_strip_digits(c) for c in called),
                any(depthwise.get(c, False) for c in called),
            )
    return kernels


def _node_for(name: str, args: tuple[str, ...], kernel: Kernel | None, engine: str) -> Node:
    """A graph node for one kernel call. A fused kernel's op is the part that decides its
    category (the convolution of conv+add+relu); its label lists every part."""
    if kernel is None or len(kernel.parts) < 2:
        op = kernel.parts[0] if kernel else _strip_digits(name)
        return Node(name, op, args[:-1], args[-1:], kernel is not None and kernel.depthwise,
                    engine=engine)  # fmt: skip
    return Node(
        name,
        deciding_op(kernel.parts),
        args[:-1],
        args[-1:],
        depthwise=kernel.depthwise,
        origins=kernel.parts,
        engine=engine,
        label="+".join(kernel.parts),
    )


def fusions(nodes: list[Node]) -> list[dict[str, Any]]:
    """Fused kernels grouped by what they fuse: [{"before": "conv2d+add+relu", "after":
    "fused_conv2d_add_relu", "count": n}], most frequent first."""
    patterns: Counter[tuple[str, str]] = Counter()
    for node in nodes:
        if len(node.origins) >= 2:
            patterns["+".join(node.origins), _strip_digits(node.name)] += 1
    return [{"before": b, "after": a, "count": c} for (b, a), c in patterns.most_common()]


def explain(request: ExplainRequest) -> Findings:
    from edgebench.compilers.tvm_relax import VMRuntime

    info = json.loads((request.artifact / "edgebench.json").read_text())
    trials = int(info.get("tune_trials", 0))
    target = json.loads(info["target"]) if str(info.get("target", "")).startswith("{") else {}
    engine = f"llvm ({target.get('mcpu', 'generic')})" if target else "llvm"
    runtime = VMRuntime(request.artifact, request.threads)
    executable = runtime.executable
    text = str(executable["as_text"]())
    calls = [(name, args) for name, args in vm_calls(text) if not name.startswith(_BUILTIN)]
    findings = Findings()
    kernels: dict[str, Kernel] = {}
    # The tuning pipeline fuses (its kernels are named fused_*); the default one does not.
    fused = trials > 0 or any(name.startswith("fused_") for name, _ in calls)
    if request.source is None:
        findings.notes.append("no ONNX source to rebuild from: fused kernels are not broken down")
    else:
        try:
            kernels = rebuilt_kernels(request, fused)
        except Exception as exc:  # the build is still listed, kernel by kernel
            findings.notes.append(
                f"could not rebuild the module: {type(exc).__name__}: {exc}"[:300]
            )
    nodes = [_node_for(name, args, kernels.get(name), engine) for name, args in calls]
    findings.after = OpGraph("tvm", nodes)
    missing = sorted({n.name for n in nodes} - set(kernels))
    if kernels and missing:
        findings.notes.append(
            f"{len(missing)} kernel(s) not found in the rebuilt module: {', '.join(missing[:5])}"
        )
    findings.fusions = fusions(nodes)
    findings.placement = {
        "engines": engines_summary(findings.after.compute_nodes()),
        "tuned": trials > 0,
        "tune_trials": trials,
        "target": target or info.get("target", ""),
        "kernels": len({n.name for n in nodes}),
        "kernel_calls": len(nodes),
    }
    if trials == 0:
        findings.notes.append("untuned: default schedules, single-threaded kernels")
    if not fused:
        findings.notes.append(
            "untuned: tvm.compile's default pipeline fuses nothing; each operator is its own "
            "kernel (tvm_tune_trials=N fuses, then tunes)"
        )
    _profile(request, runtime, nodes, findings)
    runtime.close()
    return findings


def _profile(request: ExplainRequest, runtime: Any, nodes: list[Node], findings: Findings) -> None:
    """Per-kernel time from the VM's instrument hook over as many runs as the harness timed,
    as shares of the wall time of those runs without the hook (the harness's clock)."""
    inputs = request.inputs
    wall = request.time_runs(lambda: runtime.predict(inputs))
    started: dict[str, int] = {}
    run_times: dict[str, float] = defaultdict(float)

    def instrument(func: Any, symbol: str, before: bool, ret: Any, *args: Any) -> int:
        if not symbol.startswith(_BUILTIN):
            if before:
                started[symbol] = time.perf_counter_ns()
            elif symbol in started:
                run_times[symbol] += (time.perf_counter_ns() - started.pop(symbol)) / 1e6
        return 0  # VMInstrumentReturnKind.NO_OP: run the call

    per_kernel: dict[str, list[float]] = defaultdict(list)
    try:
        runtime.vm.set_instrument(instrument)
        for _ in range(max(1, len(wall))):
            run_times.clear()
            runtime.predict(inputs)
            for symbol, ms in run_times.items():
                per_kernel[symbol].append(ms)
        runtime.vm.set_instrument(None)
    except Exception as exc:  # a VM without the hook
        findings.profile_error = f"TVM VM instrument: {type(exc).__name__}: {exc}"[:300]
        return
    if not per_kernel:
        findings.profile_error = "TVM's VM instrument saw no kernel call"
        return
    by_name = {n.name: n for n in nodes}
    ops = []
    for symbol, times in per_kernel.items():
        node = by_name.get(symbol)
        ms = statistics.median(times)
        if node is None:
            ops.append(OpTime(symbol, _strip_digits(symbol), ms, kernel=True))
        else:
            # A fused kernel shows what it fuses (conv2d+add+relu) where that reads as the
            # same category as the part that decides it.
            shown = node.label if category(node.label, node.depthwise) == node.category else ""
            op = shown or node.op
            ops.append(OpTime(symbol, op, ms, node.engine, depthwise=node.depthwise))
    findings.profile = shares_of_runs(ops, wall, "TVM VM instrument (per-kernel wall time)")
