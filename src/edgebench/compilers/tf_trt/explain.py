"""Explains a `tf-trt` cell: how much of the TensorFlow graph TF-TRT turned into TensorRT
engines (TRTEngineOp segments) and what stayed in TensorFlow. TF-TRT has no per-op profiler of
its own, so the profile says so."""

from __future__ import annotations

from collections import Counter

from edgebench.compilers.base import ExplainRequest, Findings
from edgebench.explain.graph import read_savedmodel


def explain(request: ExplainRequest) -> Findings:
    from edgebench.compilers.tf_trt import engine_counts

    after = read_savedmodel(request.artifact)
    after.format = "tf-trt"
    for node in after.nodes:
        node.engine = "TensorRT" if node.op == "TRTEngineOp" else "TensorFlow"
    counts = engine_counts(request.artifact)
    outside = Counter(n.op for n in after.compute_nodes() if n.op != "TRTEngineOp")
    return Findings(
        after=after,
        placement={
            "engines": {"TensorRT segments": counts["trt_segments"]},
            "partitions": counts["trt_segments"],
            "fallback_ops": dict(outside.most_common()),  # ops TF-TRT left in TensorFlow
        },
        profile_error="TF-TRT has no per-op profiler; the TensorRT engines inside run as one op",
    )
