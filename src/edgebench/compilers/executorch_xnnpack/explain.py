"""Explains an `executorch` cell: which ATen ops ExecuTorch's XNNPACK partitioner delegated and
which stayed on ExecuTorch's portable kernels (the delegation summary of the lowered program),
and per-op time from ExecuTorch's own event tracer (an ETDump read with its devtools Inspector).

The .pte holds no graph to read back, so the program is lowered again the way the compiler
lowers it; lowering is deterministic for a given program and ExecuTorch version."""

from __future__ import annotations

import re
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import engines_summary, read_torch_program, torch_graph
from edgebench.explain.profile import OpTime, shares_of_runs
from edgebench.models.torch_program import load_program

XNNPACK = "XNNPACK"
PORTABLE = "ExecuTorch kernels"
# Events that wrap others: the whole method, the call into a delegate, and the call around a
# portable kernel (whose own event, `native_call_<op>`, is counted).
_ENVELOPES = (
    "Method::execute",
    "DELEGATE_CALL",
    "OPERATOR_CALL",
    "Method::init",
    "Program::load_method",
)


def _lowered(request: ExplainRequest) -> Any:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    assert request.source is not None, "executorch is compiled from a torch program"
    module = load_program(request.source).module()
    example = tuple(torch.from_numpy(x) for x in request.inputs)
    program = torch.export.export(module, example)
    return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])


def _placement(lowered: Any) -> tuple[Any, dict[str, Any]]:
    from executorch.devtools.backend_debug import get_delegation_info

    program = lowered.exported_program()
    info = get_delegation_info(program.graph_module)
    # Per operator, without the totals row and the `getitem` plumbing that unpacks outputs.
    rows = [
        r
        for r in info.get_operator_delegation_dataframe().to_dict("records")
        if r["op_type"] not in ("Total", "getitem")
    ]
    fallback = {
        r["op_type"]: int(r["occurrences_in_non_delegated_graphs"])
        for r in rows
        if r["occurrences_in_non_delegated_graphs"]
    }
    after = torch_graph(program.graph, program.graph_signature, fmt="executorch")
    for node in after.nodes:
        node.engine = XNNPACK if "call_delegate" in node.op else PORTABLE
    return after, {
        "engines": {
            XNNPACK: sum(int(r["occurrences_in_delegated_graphs"]) for r in rows),
            PORTABLE: sum(fallback.values()),
        },
        "partitions": int(info.num_delegated_subgraphs),
        "fallback_ops": fallback,
        "compute_nodes": engines_summary(after.compute_nodes()),
    }


def _op_times(request: ExplainRequest) -> tuple[list[OpTime], list[float]]:
    import torch
    from executorch.devtools import Inspector
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(request.artifact, enable_etdump=True)
    method = program.load_method("forward")
    inputs = [torch.from_numpy(x) for x in request.inputs]
    wall = request.time_runs(lambda: method.execute(inputs))
    with tempfile.TemporaryDirectory(prefix="edgebench-etdump-") as tmp:
        etdump = Path(tmp) / "trace.etdump"
        program.write_etdump_result_to_file(str(etdump), str(Path(tmp) / "debug.bin"))
        inspector = Inspector(etdump_path=str(etdump))
        ops = []
        for block in inspector.event_blocks:
            for event in block.events:
                if event.name in _ENVELOPES or not event.perf_data:
                    continue
                kind = re.sub(r"\s+#\d+$", "", event.name)  # "Convolution (NHWC, F32) IGEMM #1"
                engine = XNNPACK if event.is_delegated_op else PORTABLE
                ops.append(OpTime(event.name, kind, statistics.median(event.perf_data.raw), engine))
    return ops, wall


def explain(request: ExplainRequest) -> Findings:
    before = read_torch_program(request.source) if request.source else None
    after, placement = _placement(_lowered(request))
    findings = Findings(after=after, before=before, placement=placement)
    ops, wall = _op_times(request)
    if not ops:
        findings.profile_error = "ExecuTorch's event tracer recorded no op events"
    else:
        findings.profile = shares_of_runs(ops, wall, "ExecuTorch ETDump")
    calls = Counter(n.engine for n in after.compute_nodes())[XNNPACK]
    findings.notes.append(
        f"{calls} XNNPACK delegate call(s): the ops inside are XNNPACK's own, as profiled"
    )
    return findings
