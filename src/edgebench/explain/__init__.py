"""`edgebench explain`: what a compiler did to a model, and where the time goes.

For one built cell: the graph before compilation (the compiler's input) and after, on a common
op taxonomy; what was fused; which engine ran each part (delegated or fallback); and per-op
time from the compiler's own profiler, as shares of the measured latency.

Each compiler names its explainer module (`Compiler.explainer`, one file per compiler in this
folder) whose `explain(request)` returns `Findings`; `explain_cell` adds the parts every
compiler shares. It runs in a worker process (harness/worker.py), like every other cell step:
the explainers import their frameworks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers import Compiler
from edgebench.explain.graph import OpGraph, find_fusions, read_graph
from edgebench.explain.profile import ProfileUnavailable, time_shares
from edgebench.models import ModelSpec

__all__ = ["ExplainRequest", "Findings", "ProfileUnavailable", "explain_cell", "time_shares"]


@dataclass
class ExplainRequest:
    """What an explainer gets. `time_runs(predict)` is the harness's clock: it warms up, runs
    `predict()` as many times as the run asks (`explain --runs`) and returns each run's wall
    time in ms."""

    compiler: Compiler
    artifact: Path
    source: Path | None  # the compiler's input (an ONNX file, a SavedModel, ...)
    source_format: str
    model: ModelSpec
    precision: str
    batch: int
    threads: int
    options: dict[str, Any]
    inputs: list[np.ndarray]
    time_runs: Callable[[Callable[[], object]], list[float]]


@dataclass
class Findings:
    """An explainer's answer.

    Attributes:
        after: the compiled graph, with each node's origins and engine where known.
        before: the graph before compilation, when the explainer reads it itself (a torch
            program); None to read `request.source` with the shared readers.
        fusions: fused kernels the compiler names after their ops (TVM, inductor), when there
            is no node-to-source map to find them from.
        placement: which engine ran what: counts per engine, fallback ops, partitions.
        profile: `time_shares(...)`, or None with `profile_error` saying why.
        notes: anything else the compiler reports (graph optimizations applied, breaks).
    """

    after: OpGraph | None = None
    before: OpGraph | None = None
    fusions: list[dict[str, Any]] | None = None
    placement: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    profile_error: str | None = None
    notes: list[str] = field(default_factory=list)


def explain_cell(request: ExplainRequest) -> dict[str, Any]:
    """The explanation stored with a cell: before, after, fusions, placement, profile.

    A compiler without an explainer, or whose profiler cannot run, still gets every part that
    can be had, and says why the rest is missing.
    """
    compiler = request.compiler
    result: dict[str, Any] = {"compiler": compiler.name, "precision": request.precision}
    findings = Findings()
    if compiler.explainer is None:
        findings.profile_error = f"edgebench has no explainer for {compiler.name}"
    else:
        module, _, func = compiler.explainer.partition(":")
        try:
            findings = getattr(importlib.import_module(module), func or "explain")(request)
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
