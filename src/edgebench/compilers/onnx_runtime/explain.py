"""Explains an `onnxruntime` cell: the optimized graph ONNX Runtime really runs, the graph
rewrites that changed it, the execution provider of every node, and per-node time from ONNX
Runtime's profiler (its JSON trace)."""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import engines_summary, onnx_graph
from edgebench.explain.profile import OpTime, shares_of_runs

_CHANGED = re.compile(r"GraphTransformer (\w+) modified: 1")
# Rule-based rewrites (ConvBnFusion, ...) are not logged by name, but name the initializers
# they create after themselves, and the log says when those are dropped or replaced.
_RULE = re.compile(r"initializer '([A-Z][A-Za-z0-9]*Fusion)_")


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Sends file descriptor 2 (where ONNX Runtime's C++ logger writes) to a file."""
    saved = os.dup(2)
    with open(path, "wb") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _rewrites(log: str) -> list[str]:
    """The graph transformers and fusion rules that changed the graph, in order."""
    found: list[str] = []
    for match in (*_CHANGED.finditer(log), *_RULE.finditer(log)):
        name = match.group(1)
        if name not in found and not name.endswith("RuleBasedTransformer"):
            found.append(name)
    return found


def _per_run(events: list[dict[str, Any]], keep: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Median time per run of each node (ms) over the last `keep` runs of the trace (a run
    that another process interrupted does not skew it), and each node's op type and
    provider."""
    runs: list[list[dict[str, Any]]] = [[]]
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            runs[-1].append(e)
        elif e.get("cat") == "Session" and e.get("name") == "model_run":
            runs.append([])
    complete = [r for r in runs[:-1] if r][-keep:]
    times: dict[str, list[float]] = defaultdict(list)
    meta: dict[str, Any] = {}
    for run in complete:
        per_node: dict[str, float] = defaultdict(float)
        for e in run:
            node = e["name"][: -len("_kernel_time")]
            per_node[node] += e.get("dur", 0) / 1000.0  # microseconds
            meta[node] = e.get("args", {})
        for node, ms in per_node.items():
            times[node].append(ms)
    return {k: statistics.median(v) for k, v in times.items()}, meta


def explain(request: ExplainRequest) -> Findings:
    import onnx
    import onnxruntime as ort

    from edgebench.compilers.onnx_runtime import session_options

    so, providers = session_options(request.threads, request.options)
    with tempfile.TemporaryDirectory(prefix="edgebench-ort-") as tmp:
        work = Path(tmp)
        so.optimized_model_filepath = str(work / "optimized.onnx")
        so.enable_profiling = True
        so.profile_file_prefix = str(work / "profile")
        so.log_severity_level = 1  # info: the transformers that changed the graph
        with _stderr_to(work / "session.log"):
            session = ort.InferenceSession(str(request.artifact), so, providers=providers)
        rewrites = _rewrites((work / "session.log").read_text(errors="replace"))
        feed = dict(zip([i.name for i in session.get_inputs()], request.inputs, strict=True))
        wall = request.time_runs(lambda: session.run(None, feed))
        trace = json.loads(Path(session.end_profiling()).read_text())
        times, meta = _per_run(trace, len(wall))
        engines = {node: str(args.get("provider", "")) for node, args in meta.items()}
        optimized = work / "optimized.onnx"
        after = onnx_graph(onnx.load(str(optimized)).graph, engines) if optimized.exists() else None
    findings = Findings(after=after, notes=[])
    level = str(request.options.get("ort_graph_opt", "all"))
    findings.placement = {
        "engines": engines_summary(after.compute_nodes()) if after else {},
        "providers": providers,
        "graph_optimization_level": level,
        "graph_rewrites": rewrites,
    }
    if after is None:
        findings.notes.append("ONNX Runtime did not save its optimized graph")
    depthwise = {n.name for n in after.nodes if n.depthwise} if after else set()
    ops = [
        OpTime(
            node,
            str(meta[node].get("op_name", node)),
            ms,
            engines.get(node, ""),
            depthwise=node in depthwise,
        )
        for node, ms in times.items()
    ]
    if not ops:
        findings.profile_error = "ONNX Runtime's profiler recorded no node times"
    else:
        findings.profile = shares_of_runs(ops, wall, "onnxruntime profiler")
    return findings
