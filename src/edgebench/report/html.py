"""A self-contained HTML report: no scripts from a CDN, no fonts, nothing fetched.

For each model, the study's figures drawn in inline SVG by report/figures.py (throughput and
latency against batch size per compiler and precision, size, power, the trade-off chart with its
Pareto front), LoadGen's results, then the full table; device against device at the end. Cells run
with random weights or under noise are marked.
"""

from __future__ import annotations

import html
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from edgebench.report.coverage import coverage, html_table, worth_showing
from edgebench.report.figures import marks_of
from edgebench.report.sections import hosts_html, model_figures_html
from edgebench.report.table import COLUMNS, flat_row, option_changes
from edgebench.results import DRIFT_PCT, NOISY_PCT, CellResult
from edgebench.store import RunInfo

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f3f3f3;cursor:pointer}td.l,th.l{text-align:left}
tr.failed td{color:#b00}tr.unsupported td,tr.skipped td{color:#a60}
.note{color:#666;font-size:.9em}.figure{margin:1em 0}
.wide{overflow-x:auto;max-width:100%}details{margin:.5em 0 1.5em}summary{cursor:pointer}
code{word-break:break-all}svg{max-width:100%;height:auto}
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


# The table a reader scans: (heading, value of a cell, decimals); a column is shown only when
# some cell has a value in it. Every other field is in the "all fields" table and the CSV.
_SHOWN: tuple[tuple[str, Callable[[CellResult], Any], int], ...] = (
    ("run", lambda c: c.run_id.rsplit("-", 1)[-1], 0),
    ("host", lambda c: (c.system or {}).get("hostname"), 0),
    ("compiler", lambda c: c.compiler, 0),
    ("precision", lambda c: c.precision, 0),
    ("batch", lambda c: c.batch_size, 0),
    ("threads", lambda c: c.threads, 0),
    ("options", option_changes, 0),
    ("target", lambda c: (getattr(c, "target", None) or {}).get("name"), 0),
    ("status", lambda c: c.status, 0),
    ("p50 ms", lambda c: c.latency_ms.p50 if c.latency_ms else None, 3),
    ("p99 ms", lambda c: c.latency_ms.p99 if c.latency_ms else None, 3),
    ("img/s", lambda c: c.throughput_ips, 1),
    ("size MB", lambda c: c.model_size_mb, 1),
    ("gzip MB", lambda c: c.model_size_gzip_mb, 1),
    ("convert s", lambda c: c.convert_s, 1),
    ("RSS MB", lambda c: c.peak_rss_mb, 0),
    ("noise %", lambda c: c.noise_cpu_pct, 0),
    ("top-1", lambda c: (c.accuracy or {}).get("top1"), 3),
    ("mAP", lambda c: (c.accuracy or {}).get("map"), 3),
    ("agree", lambda c: _agree(c), 3),
    ("SNR dB", lambda c: (c.fidelity or {}).get("snr_db"), 1),
    ("power W", lambda c: (c.power_w or {}).get("avg"), 2),
    ("J/img", lambda c: c.energy_j_per_inf, 4),
)
_TEXT = {"run", "host", "compiler", "precision", "options", "target", "status"}
_WHEN_THEY_DIFFER = {"run", "host", "threads"}  # shown only when the cells do not share one


def _agree(c: CellResult) -> float | None:
    fid = c.fidelity or {}
    value = fid.get("top1_agreement", fid.get("detection_agreement"))
    return value if isinstance(value, (int, float)) else None


def _text(value: Any, decimals: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):  # as the terminal: an exact match's SNR is inf
            return "-" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return f"{value:.{decimals}f}"
    return _esc(value)


def _table(cells: Sequence[CellResult]) -> str:
    """The readable table (columns with data, headings in words, notes numbered below it),
    then every field behind a toggle, in a box that scrolls on its own."""
    columns = [
        col
        for col in _SHOWN
        if any(col[1](c) is not None for c in cells)
        and (col[0] not in _WHEN_THEY_DIFFER or len({col[1](c) for c in cells}) > 1)
    ]
    head = "".join(
        f'<th class="{"l" if name in _TEXT else ""}">{_esc(name)}</th>' for name, _, _ in columns
    )
    rows, notes = [], []
    for cell in cells:
        tds = []
        for name, value, decimals in columns:
            text = _text(value(cell), decimals)
            if name == "status":
                why = [cell.error] if cell.error else []
                why += (
                    [f"fidelity: {(cell.fidelity or {}).get('error')}"]
                    if (cell.fidelity or {}).get("error")
                    else []
                )
                for reason in why:
                    notes.append(reason)
                    text += f" <sup>{len(notes)}</sup>"
                text += _esc(marks_of(cell))
            tds.append(f'<td class="{"l" if name in _TEXT else ""}">{text}</td>')
        rows.append(f'<tr class="{_esc(cell.status)}">{"".join(tds)}</tr>')
    listed = "".join(f"<li>{_esc(n)}</li>" for n in notes)
    return (
        f'<table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        + (f'<ol class="note">{listed}</ol>' if notes else "")
        + f'<details><summary>All fields</summary><div class="wide">{_all_fields(cells)}</div>'
        "</details>"
    )


def _ranking(cells: Sequence[CellResult]) -> str:
    """Fastest first, per batch size and device, with ties where the figures cannot order
    two cells (report/ranking.py), and why."""
    from edgebench.report.ranking import groups, name_of

    parts = []
    for (_, batch, host), ranked in groups(cells).items():
        rows = "".join(
            f"<tr><td>{_esc(r.label)}</td><td class='l'>{_esc(name_of(r.cell))}</td>"
            f"<td>{_text(r.cell.latency_ms.p50 if r.cell.latency_ms else None, 3)}</td>"
            f"<td>{_text(r.cell.latency_ms.ci95_low if r.cell.latency_ms else None, 3)}-"
            f"{_text(r.cell.latency_ms.ci95_high if r.cell.latency_ms else None, 3)}</td>"
            f"<td class='l'>{_esc(r.why_tied or '')}</td></tr>"
            for r in ranked
        )
        parts.append(
            f"<h3>fastest first: batch {batch}, {_esc(host)}</h3>"
            "<table><thead><tr><th>rank</th><th class='l'>cell</th><th>p50 ms</th>"
            "<th>95% CI</th><th class='l'>tied with the one above: why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return "".join(parts)


def _all_fields(cells: Sequence[CellResult]) -> str:
    """Every flat field of every cell (as in the CSV), for the reader who wants them."""
    left = {"run_id", "model", "weights", "compiler", "precision", "status", "error"}
    columns = [col for col in COLUMNS if any(flat_row(c)[col] is not None for c in cells)]
    head = "".join(f'<th class="{"l" if c in left else ""}">{_esc(c)}</th>' for c in columns)
    rows = []
    for cell in cells:
        row = flat_row(cell)
        tds = "".join(
            f'<td class="{"l" if col in left else ""}">'
            f"{f'{row[col]:.3f}' if isinstance(row[col], float) else _esc(row[col])}</td>"
            for col in columns
        )
        rows.append(f'<tr class="{_esc(cell.status)}">{tds}</tr>')
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
    if worth_showing(cells):
        sections.append(html_table(coverage(cells)))
    for model in sorted(by_model):
        mc = by_model[model]
        sections.append(
            f"<h2>{_esc(model)}</h2>" + model_figures_html(model, mc) + _ranking(mc) + _table(mc)
        )
    sections.append(hosts_html(cells))
    n_ok = sum(c.status == "ok" for c in cells)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1>"
        f'<p class="note">{len(cells)} cells ({n_ok} ok), generated '
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}. \u2020 random weights (speed only); "
        f"* noisy: other processes used more than {NOISY_PCT:g}% of the CPU while timed, or "
        f"the host's speed moved by more than {DRIFT_PCT:g}% within the timed window. "
        "A rank shared (2=) means the figures cannot order those cells: their intervals "
        "overlap, a host was busy, or its speed changed as much. "
        "Click a column header to sort.</p>"
        f"<ul>{''.join(hosts)}</ul>{''.join(sections)}"
        f"<script>{_SORT_JS}</script></body></html>"
    )
