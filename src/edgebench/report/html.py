"""A self-contained HTML report: no scripts from a CDN, no fonts, nothing fetched.

For each model, the study's figure (throughput against batch size per compiler and precision,
as grouped bars drawn in inline SVG), then latency and size bars and the full table. Cells run
with random weights or under noise are marked.
"""

from __future__ import annotations

import html
import time
from collections import defaultdict
from collections.abc import Sequence

from edgebench.harness.noise import NOISY_PCT
from edgebench.report.table import COLUMNS, flat_row
from edgebench.results import CellResult
from edgebench.store import RunInfo

_PALETTE = (
    "#4269d0",
    "#efb118",
    "#ff725c",
    "#6cc5b0",
    "#3ca951",
    "#ff8ab7",
    "#a463f2",
    "#97bbf5",
    "#9c6b4e",
    "#9498a0",
)

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f3f3f3;cursor:pointer}td.l,th.l{text-align:left}
tr.failed td{color:#b00}tr.unsupported td,tr.skipped td{color:#a60}
.note{color:#666;font-size:.9em}.figure{margin:1em 0}
"""

# A few lines of inline script make the tables sortable by a click on a header.
_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th,i){
 th.addEventListener('click',function(){
  var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),asc=th.dataset.asc!=='1';
  rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent,
   p=parseFloat(x),q=parseFloat(y);
   if(!isNaN(p)&&!isNaN(q))return asc?p-q:q-p;return asc?x.localeCompare(y):y.localeCompare(x);});
  th.dataset.asc=asc?'1':'0';rows.forEach(function(r){tb.appendChild(r);});});});
"""


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _series_label(c: CellResult) -> str:
    return f"{c.compiler} {c.precision}"


def _marks(c: CellResult) -> str:
    marks = ""
    if c.weights == "random":
        marks += "\u2020"
    if c.noise_cpu_pct is not None and c.noise_cpu_pct > NOISY_PCT:
        marks += "*"
    return marks


def grouped_bars_svg(
    cells: Sequence[CellResult], value: str, unit: str, title: str, width: int = 900
) -> str:
    """Grouped bars: one group per batch size, one bar per compiler+precision."""
    ok = [c for c in cells if c.status == "ok"]
    if not ok:
        return ""

    def val(c: CellResult) -> float:
        if value == "p50":
            return c.latency_ms.p50 if c.latency_ms else 0.0
        return float(getattr(c, value) or 0.0)

    series = sorted({_series_label(c) for c in ok})
    batches = sorted({c.batch_size for c in ok})
    by = {(c.batch_size, _series_label(c)): c for c in ok}
    top = max(val(c) for c in ok) or 1.0
    left, bottom, height = 60, 40, 260
    plot_w = width - left - 180
    group_w = plot_w / len(batches)
    bar_w = max(2.0, (group_w - 10) / len(series))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + bottom + 30}"'
        f' role="img" aria-label="{_esc(title)}">',
        f'<text x="{left}" y="16" font-size="14" font-weight="bold">{_esc(title)}</text>',
        f'<line x1="{left}" y1="{height + 20}" x2="{left + plot_w}" y2="{height + 20}"'
        ' stroke="#444"/>',
    ]
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = 20 + height * (1 - frac)
        parts.append(
            f'<text x="{left - 5}" y="{y + 4}" font-size="10" text-anchor="end">'
            f"{top * frac:.3g}</text>"
            f'<line x1="{left}" y1="{y}" x2="{left + plot_w}" y2="{y}" stroke="#eee"/>'
        )
    for gi, b in enumerate(batches):
        gx = left + gi * group_w + 5
        for si, s in enumerate(series):
            c = by.get((b, s))
            if c is None:
                continue
            h = height * val(c) / top
            x = gx + si * bar_w
            color = _PALETTE[si % len(_PALETTE)]
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{20 + height - h:.1f}" width="{bar_w - 1:.1f}"'
                f' height="{h:.1f}" fill="{color}"><title>{_esc(s)} batch {b}: '
                f"{val(c):.3g} {_esc(unit)}{_marks(c)}</title></rect>"
            )
            if _marks(c):
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{20 + height - h - 2:.1f}" font-size="9"'
                    f' text-anchor="middle">{_marks(c)}</text>'
                )
        parts.append(
            f'<text x="{gx + group_w / 2 - 5:.1f}" y="{height + 36}" font-size="11"'
            f' text-anchor="middle">batch {b}</text>'
        )
    for si, s in enumerate(series):
        y = 30 + si * 16
        parts.append(
            f'<rect x="{left + plot_w + 15}" y="{y - 9}" width="10" height="10"'
            f' fill="{_PALETTE[si % len(_PALETTE)]}"/>'
            f'<text x="{left + plot_w + 30}" y="{y}" font-size="11">{_esc(s)}</text>'
        )
    parts.append(
        f'<text x="14" y="{20 + height / 2}" font-size="11" transform="rotate(-90 14'
        f' {20 + height / 2})" text-anchor="middle">{_esc(unit)}</text></svg>'
    )
    return "".join(parts)


def _table(cells: Sequence[CellResult]) -> str:
    left = {"run_id", "model", "weights", "compiler", "precision", "status", "error"}
    head = "".join(f'<th class="{"l" if c in left else ""}">{_esc(c)}</th>' for c in COLUMNS)
    rows = []
    for cell in cells:
        row = flat_row(cell)
        tds = []
        for col in COLUMNS:
            v = row[col]
            text = f"{v:.3f}" if isinstance(v, float) else _esc(v)
            if col == "weights" and cell.weights == "random":
                text += "\u2020"
            tds.append(f'<td class="{"l" if col in left else ""}">{text}</td>')
        rows.append(f'<tr class="{_esc(cell.status)}">{"".join(tds)}</tr>')
    return (
        f'<table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render(
    runs: Sequence[RunInfo], cells: Sequence[CellResult], title: str = "edgebench report"
) -> str:
    """The whole report as one HTML string."""
    by_model: dict[str, list[CellResult]] = defaultdict(list)
    for c in cells:
        by_model[c.model].append(c)
    hosts = []
    for r in runs:
        cpu = r.system.get("cpu", {})
        hosts.append(
            f"<li>run <code>{_esc(r.run_id)}</code> on {_esc(r.system.get('hostname'))}: "
            f"{_esc(cpu.get('model'))}, {_esc(cpu.get('usable_cores'))} cores, "
            f"{_esc(r.system.get('os'))}, edgebench {_esc(r.edgebench_version)}"
            f"{' @ ' + _esc(r.git_commit) if r.git_commit else ''}</li>"
        )
    sections = []
    for model in sorted(by_model):
        mc = by_model[model]
        smallest = min(c.batch_size for c in mc)
        figures = [
            grouped_bars_svg(mc, "throughput_ips", "images/s", f"{model}: throughput by batch"),
            grouped_bars_svg(mc, "p50", "ms", f"{model}: median latency"),
            grouped_bars_svg(
                [c for c in mc if c.batch_size == smallest],
                "model_size_mb",
                "MB",
                f"{model}: model size on disk",
            ),
        ]
        sections.append(
            f"<h2>{_esc(model)}</h2>"
            + "".join(f'<div class="figure">{f}</div>' for f in figures if f)
            + _table(mc)
        )
    n_ok = sum(c.status == "ok" for c in cells)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1>"
        f'<p class="note">{len(cells)} cells ({n_ok} ok), generated '
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}. \u2020 random weights (speed only); "
        f"* noisy: other processes used more than {NOISY_PCT:g}% of the CPU while timed. "
        "Click a column header to sort.</p>"
        f"<ul>{''.join(hosts)}</ul>{''.join(sections)}"
        f"<script>{_SORT_JS}</script></body></html>"
    )
