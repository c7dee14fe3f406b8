"""`edgebench explain`: what a compiler did to a model, and where the time goes.

For one built cell: the graph before compilation (the compiler's input) and after, on a common
op taxonomy; what was fused; which engine ran each part (delegated or fallback); and per-op
time from the compiler's own profiler, as shares of the measured latency.

Each compiler explains itself: `Compiler.explain(request)` returns `Findings`, from the
`explain.py` of the compiler's own package (`compilers/tflite/explain.py`, ...), and
`explain_cell` adds the parts every compiler shares from this folder: the graph readers
(graph.py), the op taxonomy, per-op time shares (profile.py) and the terminal view (render.py).
It runs in a worker process (harness/worker.py), like every other cell step: the explainers
import their frameworks.
"""

from __future__ import annotations

from typing import Any

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import find_fusions, read_graph
from edgebench.explain.profile import ProfileUnavailable, time_shares

__all__ = ["ExplainRequest", "Findings", "ProfileUnavailable", "explain_cell", "time_shares"]


def explain_cell(request: ExplainRequest) -> dict[str, Any]:
    """The explanation stored with a cell: before, after, fusions, placement, profile.

    A compiler without an explainer, or whose profiler cannot run, still gets every part that
    can be had, and says why the rest is missing.
    """
    compiler = request.compiler
    result: dict[str, Any] = {"compiler": compiler.name, "precision": request.precision}
    try:
        findings = compiler.explain(request)
    except ProfileUnavailable as exc:  # raised before any graph work: nothing else to add
        findings = Findings(profile_error=str(exc))
    before = findings.before
    if before is None and request.source is not None:
        try:
            before = read_graph(request.source, request.source_format)
        except Exception as exc:  # a graph the readers cannot take: say so, keep the rest
            result["before_error"] = f"{type(exc).__name__}: {exc}"[:300]
    if before is not None:
        result["before"] = before.summary()
    if findings.after is not None:
        result["after"] = findings.after.summary()
    if findings.fusions is not None:
        result["fusions"] = findings.fusions
    elif before is not None and findings.after is not None:
        traced = find_fusions(before, findings.after)
        result["fusions"] = traced["fusions"]
        result["untraced"] = traced["removed"]
    result["placement"] = findings.placement
    if findings.profile is not None:
        result["profile"] = findings.profile
    else:
        result["profile"] = {"error": findings.profile_error or "no profile was taken"}
    if findings.notes:
        result["notes"] = findings.notes
    return result
