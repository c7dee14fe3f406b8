"""Explanations as text for the terminal (rich markup) and as plain lines for Markdown.

Nothing here imports a framework: it reads the `explain` dict stored with a cell.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from edgebench.results import CellResult


def _counts(counts: dict[str, int], most: int = 8) -> str:
    items = list(counts.items())
    shown = ", ".join(f"{k} {v}" for k, v in items[:most])
    return shown + (f", +{len(items) - most} more" if len(items) > most else "")


def _graph(part: dict[str, Any] | None) -> str:
    if not part:
        return "-"
    return f"{part['format']}, {part['nodes']} nodes"


def accelerator_lines(cell: CellResult) -> list[str]:
    """Where a GPU or NPU cell ran, as measured: its device, and what the NPU compile took."""
    if cell.accelerator == "cpu":
        return []
    info = cell.accelerator_info or {}
    device = str(info.get("device", "?")) + (" (a software device)" if info.get("software") else "")
    full = info.get("fully_accelerated")
    lines = [f"  device      {device}" + ("" if full is None else f"; all ops accelerated: {full}")]
    npu = cell.artifact_info.get("npu") or {}
    if npu:
        lines.append(
            f"  npu         {npu.get('target')} ({npu.get('vendor')}): {npu.get('ops_offloaded')}"
            f"/{npu.get('ops_total')} ops offloaded to {npu.get('partitions')} partition(s), "
            f"compiled in {npu.get('compile_s')} s"
        )
    if info.get("note"):
        lines.append(f"  note        {info['note']}")
    return lines


def explanation_lines(cell: CellResult) -> list[str]:
    """The explanation of one cell, a line per fact (no markup)."""
    ex = cell.explain or {}
    p50 = f" p50 {cell.latency_ms.p50:.3g} ms" if cell.latency_ms else ""
    on = "" if cell.accelerator == "cpu" else f" {cell.accelerator}"
    lines = [f"{cell.model} {cell.compiler}{on} {cell.precision} b{cell.batch_size}:{p50}"]
    if cell.status != "ok":
        return [*lines, f"  not explained: {cell.status}: {cell.error}"]
    if "error" in ex:
        return [*lines, f"  {ex['error']}"]
    if cell.convert_steps:  # the route: each converter, then the compiler's own step
        lines.append(f"  route       {' -> '.join(s['step'] for s in cell.convert_steps)}")
    for key, label in (("torch_route", "via"), ("onnx_cleanup", "cleanup")):
        if cell.artifact_info.get(key):
            lines.append(f"  {label:<11} {cell.artifact_info[key]}")
    before, after = ex.get("before"), ex.get("after")
    lines.append(f"  graph       {_graph(before)} -> {_graph(after)}")
    if ex.get("before_error"):
        lines.append(f"  before      unreadable: {ex['before_error']}")
    if before:
        lines.append(f"  before      {_counts(before.get('categories', {}))}")
    if after:
        lines.append(f"  after       {_counts(after.get('categories', {}))}")
        lines.append(f"  after ops   {_counts(after.get('ops', {}))}")
    fusions = ex.get("fusions") or []
    if fusions:
        shown = "; ".join(f"{f['before']} -> {f['after']} x{f['count']}" for f in fusions[:5])
        more = f"; +{len(fusions) - 5} more" if len(fusions) > 5 else ""
        lines.append(f"  fused       {shown}{more}")
    elif "fusions" in ex:
        lines.append("  fused       nothing traced")
    placement = ex.get("placement") or {}
    lines += accelerator_lines(cell)
    if placement.get("engines"):
        lines.append(f"  ran on      {_counts(placement['engines'])}")
    weights = placement.get("weights") or {}
    if weights.get("tensors"):
        lines.append(
            f"  weights     {weights['tensors']} tensors, {weights['values']:,} values, "
            f"{100 * (weights.get('zeros') or 0):.1f}% zeros; at most "
            f"{weights.get('max_distinct_per_channel')} distinct values per output channel"
        )
    if placement.get("fallback_ops"):
        lines.append(f"  fallback    {_counts(placement['fallback_ops'])}")
    for key, label in (
        ("partitions", "partitions"),
        ("graph_rewrites", "rewrites"),
        ("runtime_precisions", "precisions"),
        ("graph_breaks", "breaks"),
    ):
        value = placement.get(key)
        if value not in (None, [], {}):
            text = _counts(value) if isinstance(value, dict) else value
            text = ", ".join(map(str, text)) if isinstance(text, list) else text
            lines.append(f"  {label:<11} {text}")
    profile = ex.get("profile") or {}
    if "error" in profile:
        lines.append(f"  time        no profile: {profile['error']}")
    elif profile:
        shares = ", ".join(
            f"{c['category']} {100 * c['share']:.0f}% ({c['ms']:.3g} ms)"
            for c in profile["categories"]
            if c["share"] >= 0.005 or c["category"] == "unattributed"
        )
        lines.append(
            f"  time        {profile['measured_ms']:.3g} ms per profiled run "
            f"({profile['source']}, {profile['runs']} runs): {shares}"
        )
        top = ", ".join(f"{o['op']} {o['ms']:.3g} ms" for o in profile["top_ops"][:5])
        lines.append(f"  slowest     {top}")
        if profile.get("note"):
            lines.append(f"  note        {profile['note']}")
    for note in ex.get("notes", []):
        lines.append(f"  note        {note}")
    for row in ex.get("ablation", []):
        lines.append("  ablation    " + ablation_text(row))
    return lines


def ablation_text(row: dict[str, Any]) -> str:
    if "p50_ms" not in row:
        return f"{row['change']}: {row.get('error', '')}".rstrip(": ")
    text = f"{row['change']}: p50 {row['p50_ms']:.3g} ms without it"
    if row.get("speedup"):
        text += f" ({row['speedup']:.2f}x speed-up from it)"
    if row.get("throughput_ips") and row.get("cell_throughput_ips"):
        text += (
            f", {row['cell_throughput_ips']:.4g} img/s with it vs {row['throughput_ips']:.4g}"
            " without"
        )
    change = row.get("size_change_mb")
    if change:
        text += f", {abs(change):.3g} MB {'smaller' if change < 0 else 'larger'} with it"
    fid, cell_fid = row.get("fidelity") or {}, row.get("cell_fidelity") or {}
    for key in ("top1_agreement", "cosine", "box_agreement"):
        if key in fid and key in cell_fid:
            text += f", {key} {cell_fid[key]:.3f} with it vs {fid[key]:.3f} without"
            break
    return text


def rich_explanation(cell: CellResult) -> str:
    lines = explanation_lines(cell)
    return "\n".join([f"[bold]{escape(lines[0])}[/]", *(escape(ln) for ln in lines[1:])])
