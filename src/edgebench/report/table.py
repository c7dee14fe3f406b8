"""Result rows as a terminal table, CSV or JSON. Imports no framework."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from edgebench.results import DRIFT_PCT, NOISY_PCT, CellResult, distinct_models


def option_changes(cell: CellResult) -> str | None:
    """The cell's compiler options that differ from that compiler's defaults, as `k=v ...`
    (what sets apart two cells of one compiler in a suite or a tune); None when none do."""
    from edgebench.compilers import get_compiler
    from edgebench.errors import EdgebenchError

    try:
        defaults = {o.name: o.default for o in get_compiler(cell.compiler).declared_options}
    except EdgebenchError:  # a plugin compiler that is not installed here
        defaults = {}
    changed = [f"{k}={v}" for k, v in sorted(cell.options.items()) if defaults.get(k) != v]
    return " ".join(changed) or None


# Flat columns for CSV and the terminal, in the order a reader scans them.
COLUMNS = (
    "run_id",
    "model",
    "model_digest",
    "weights",
    "compiler",
    "accelerator",
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
    "model_size_gzip_mb",
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
    """A figure for the terminal: `digits` decimals, or three significant digits below 1
    (the null compiler's microseconds), never in exponent form."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        if abs(value) >= 1 or value == 0:
            return f"{value:.{digits}f}"
        decimals = 2 - math.floor(math.log10(abs(value)))
        return f"{value:.{decimals}f}"
    return str(value)


def shorten_middle(names: Sequence[str], width: int) -> dict[str, str]:
    """Each name cut in the middle to at most `width` characters, as long as the cut names
    stay distinct (wider otherwise): `ch_PP-OCRv4_det_infer` -> `ch_PP-…det_infer`."""
    unique = list(dict.fromkeys(names))

    def cut(name: str, w: int) -> str:
        if len(name) <= w:
            return name
        head = (w - 1) // 2
        return name[:head] + "\u2026" + name[len(name) - (w - 1 - head) :]

    longest = max((len(n) for n in unique), default=0)
    for w in range(max(width, 5), longest + 1):
        shown = {n: cut(n, w) for n in unique}
        if len(set(shown.values())) == len(unique):
            return shown
    return {n: n for n in unique}


# Terminal columns, in the order they are given up when the table is wider than the
# terminal (the first ones first); `--wide` keeps them all, and JSON/CSV always have them.
_OPTIONAL = ("RSS MB", "convert s", "p99 ms", "weights", "noise %", "gzip MB", "size MB")


def rich_table(
    cells: Sequence[CellResult], title: str | None = None, width: int | None = None,
    wide: bool = False,
) -> Any:  # fmt: skip
    """A rich Table of the cells that fits `width` columns (dropping optional columns, said
    in the caption) unless `wide`. Reasons for rows that are not ok go in numbered notes
    below it, so the columns stay narrow."""
    from rich.markup import escape
    from rich.table import Table

    cells = distinct_models(cells)
    columns = _columns(cells)
    dropped: list[str] = []
    names = {c.model: c.model for c in cells}
    if not wide and width:
        for name in _OPTIONAL:
            if _width(columns, cells, names) <= width:
                break
            if name in columns:
                columns.remove(name)
                dropped.append(name)
        if _width(columns, cells, names) > width:  # then: model names cut in the middle
            names = shorten_middle([c.model for c in cells], 12)
        # then what another column says too: a status every row shares (the summary line
        # counts them), top-5 beside top-1, agreement beside SNR
        spare = ["status"] if all(c.status == "ok" for c in cells) else []
        spare += [n for n, also in (("top5", "top1/mAP"), ("agree", "SNR dB")) if also in columns]
        for name in spare:
            if _width(columns, cells, names) <= width:
                break
            if name in columns:
                columns.remove(name)
                dropped.append(name)
    # A number is never cut: its column keeps its widest figure, and where the table still
    # does not fit, the text columns wrap instead (COLUMNS=80 showed `28639045…`).
    fits = wide or not width or _width(columns, cells, names) <= width
    widest = _widest(columns, cells, names)
    table = Table(title=title, show_lines=False, caption_justify="left")
    for name in columns:
        if name in _TEXT_COLUMNS:
            table.add_column(name, justify="left", no_wrap=fits, overflow="fold")
        else:
            table.add_column(name, justify="right", no_wrap=True, min_width=widest[name])
    notes: list[str] = []
    for c in cells:
        values = _values(c, names)
        if c.error:
            notes.append(f"[{len(notes) + 1}] {c.error}")
            values["status"] += f" [{len(notes)}]"
        if (c.fidelity or {}).get("error"):
            notes.append(f"[{len(notes) + 1}] fidelity: {c.fidelity['error']}")  # type: ignore[index]
        elif c.fidelity_failed:
            notes.append(f"! {c.compiler} {c.precision}: {c.fidelity['failed']}")  # type: ignore[index]
        style = None if c.status == "ok" else ("red" if c.status == "failed" else "yellow")
        table.add_row(*(escape(values[name]) for name in columns), style=style)
    if any(c.noisy or c.drifted for c in cells):
        notes.append(
            f"* timed on a busy host (other processes above {NOISY_PCT:g}% of the CPU) or in a "
            f"window whose speed moved over {DRIFT_PCT:g}%: not comparable with unmarked cells"
        )
    if dropped:
        notes.append(f"columns left out to fit: {', '.join(dropped)} (--wide, --json or export)")
    if notes:
        table.caption = escape("\n".join(notes))
    return table


def _columns(cells: Sequence[CellResult]) -> list[str]:
    columns = ["model", "weights", "compiler", "precision", "batch"]
    if any(c.accelerator != "cpu" for c in cells):
        columns.insert(3, "accel")
    if len({c.threads for c in cells}) > 1:
        columns.append("threads")
    if any(option_changes(c) for c in cells):
        columns.append("options")
    if len({c.target_name for c in cells}) > 1 or any(c.target for c in cells):
        columns.append("target")
    columns += ["status", "p50 ms", "p99 ms", "img/s", "size MB", "gzip MB", "convert s", "RSS MB"]
    columns.append("noise %")
    if any(c.accuracy for c in cells):
        columns += ["top1/mAP", "top5"]
    if any(c.fidelity for c in cells):
        columns += ["agree", "SNR dB"]
    return columns


def _values(c: CellResult, names: dict[str, str]) -> dict[str, str]:
    lat, acc, fid = c.latency_ms, c.accuracy or {}, c.fidelity or {}
    failed = "!" if c.fidelity_failed else ""  # below the fidelity floor
    agree = fid.get("top1_agreement", fid.get("detection_agreement"))
    target = c.target_name + ("*" if c.emulated else "")
    return {
        "model": names.get(c.model, c.model),
        "weights": c.weights,
        "compiler": c.compiler,
        "accel": c.accelerator + ("\u00a7" if c.software_device else ""),
        "precision": c.precision,
        "batch": str(c.batch_size),
        "threads": str(c.threads),
        "options": option_changes(c) or "-",
        "target": target,
        "status": c.status,
        # a busy or drifting host's figure carries its mark even where the noise column
        # is left out to fit
        "p50 ms": _fmt(lat.p50 if lat else None) + ("*" if c.noisy or c.drifted else ""),
        "p99 ms": _fmt(lat.p99 if lat else None),
        "img/s": _fmt(c.throughput_ips, 1 if (c.throughput_ips or 0) < 1000 else 0),
        "size MB": _fmt(c.model_size_mb, 1),
        "gzip MB": _fmt(c.model_size_gzip_mb, 1),
        "convert s": _fmt(c.convert_s, 1),
        "RSS MB": _fmt(c.peak_rss_mb, 0),
        "noise %": "-" if c.noise_cpu_pct is None else f"{c.noise_cpu_pct:.0f}",  # not 0.250
        "top1/mAP": _fmt(acc.get("top1", acc.get("map")), 3),
        "top5": _fmt(acc.get("top5"), 3),
        "agree": (f"{agree:.3f}" if isinstance(agree, (int, float)) else "-") + failed,
        "SNR dB": _fmt(fid.get("snr_db"), 1) + failed,
    }


def _width(columns: list[str], cells: Sequence[CellResult], names: dict[str, str]) -> int:
    """How wide the table would be: each column's widest text, its padding and border (a
    failed cell's status carries its note number)."""
    return sum(w + 3 for w in _widest(columns, cells, names).values()) + 1


def _widest(
    columns: list[str], cells: Sequence[CellResult], names: dict[str, str]
) -> dict[str, int]:
    """Each column's widest text, its header included."""
    rows = [_values(c, names) for c in cells]
    widest = {col: max([len(col)] + [len(r[col]) for r in rows]) for col in columns}
    if any(c.error for c in cells) and "status" in widest:
        widest["status"] += 5
    return widest


_TEXT_COLUMNS = {
    "model", "weights", "compiler", "accel", "precision", "options", "target", "status"
}  # fmt: skip
