"""Result rows as a terminal table, CSV or JSON. Imports no framework."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from edgebench.results import CellResult

# Flat columns for CSV and the terminal, in the order a reader scans them.
COLUMNS = (
    "run_id",
    "model",
    "weights",
    "compiler",
    "precision",
    "batch_size",
    "threads",
    "status",
    "p50_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "ci95_low_ms",
    "ci95_high_ms",
    "throughput_ips",
    "model_size_mb",
    "convert_s",
    "load_s",
    "first_inference_ms",
    "peak_rss_mb",
    "noise_cpu_pct",
    "n_runs",
    "top1",
    "top5",
    "map",
    "map50",
    "top1_agreement",
    "snr_db",
    "max_abs_diff",
    "error",
)


def flat_row(cell: CellResult) -> dict[str, Any]:
    lat = cell.latency_ms
    row: dict[str, Any] = {k: getattr(cell, k, None) for k in COLUMNS}
    for name in ("p50", "p99", "mean", "std", "ci95_low", "ci95_high"):
        row[f"{name}_ms"] = getattr(lat, name) if lat else None
    for name in ("top1", "top5", "map", "map50"):
        row[name] = (cell.accuracy or {}).get(name)
    for name in ("top1_agreement", "snr_db", "max_abs_diff"):
        row[name] = (cell.fidelity or {}).get(name)
    return row


def to_csv(cells: Sequence[CellResult]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cell in cells:
        writer.writerow(flat_row(cell))
    return buf.getvalue()


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float as null: strict JSON parsers (JavaScript's
    JSON.parse, jq) refuse `Infinity` and `NaN`."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON for people's tools (never `Infinity` or `NaN`)."""
    return json.dumps(json_safe(value), indent=1, default=str, allow_nan=False)


def to_json(cells: Sequence[CellResult], samples: bool = False) -> str:
    return dumps([c.to_dict(samples=samples) for c in cells])


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        # Keep three significant digits for sub-unit figures (the null compiler's microseconds).
        return f"{value:.{digits}f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"
    return str(value)


def rich_table(cells: Sequence[CellResult], title: str | None = None) -> Any:
    """A rich Table of the cells. Reasons for rows that are not ok go in numbered notes below
    it (the table's caption), so the columns stay narrow."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_lines=False, caption_justify="left")
    for name in (
        "model",
        "weights",
        "compiler",
        "precision",
        "batch",
        "status",
        "p50 ms",
        "p99 ms",
        "img/s",
        "size MB",
        "convert s",
        "RSS MB",
        "noise %",
    ):
        table.add_column(
            name, justify="left" if name in _TEXT_COLUMNS else "right", no_wrap=name == "status"
        )
    show_acc = any(c.accuracy for c in cells)
    show_fid = any(c.fidelity for c in cells)
    if show_acc:
        table.add_column("top1/mAP", justify="right")
        table.add_column("top5", justify="right")
    if show_fid:
        table.add_column("agree", justify="right")
        table.add_column("SNR dB", justify="right")
    notes: list[str] = []
    for c in cells:
        lat = c.latency_ms
        status: str = c.status
        if c.error:
            notes.append(f"[{len(notes) + 1}] {c.error}")
            status += f" [{len(notes)}]"
        style = None if c.status == "ok" else ("red" if c.status == "failed" else "yellow")
        extra = []
        if show_acc:
            acc = c.accuracy or {}
            extra += [_fmt(acc.get("top1", acc.get("map")), 3), _fmt(acc.get("top5"), 3)]
        if show_fid:
            fid = c.fidelity or {}
            agree = fid.get("top1_agreement", fid.get("detection_agreement"))
            extra += [
                f"{agree:.3f}" if isinstance(agree, (int, float)) else "-",
                _fmt(fid.get("snr_db"), 1),
            ]
            if fid.get("error"):
                notes.append(f"[{len(notes) + 1}] fidelity: {fid['error']}")
        table.add_row(
            c.model,
            c.weights,
            c.compiler,
            c.precision,
            str(c.batch_size),
            escape(status),
            _fmt(lat.p50 if lat else None),
            _fmt(lat.p99 if lat else None),
            _fmt(c.throughput_ips, 1),
            _fmt(c.model_size_mb, 1),
            _fmt(c.convert_s, 1),
            _fmt(c.peak_rss_mb, 0),
            _fmt(c.noise_cpu_pct, 0),
            *extra,
            style=style,
        )
    if notes:
        table.caption = escape("\n".join(notes))
    return table


_TEXT_COLUMNS = {"model", "weights", "compiler", "precision", "status"}
