"""A self-contained HTML report: no scripts from a CDN, no fonts, nothing fetched.

For each model, the study's figures drawn in inline SVG by report/figures.py (throughput and
latency against batch size per compiler and precision, size, power, the trade-off chart with its
Pareto front), LoadGen's results, then the full table; host against host at the end. Cells run
with random weights or under noise are marked.
"""

from __future__ import annotations

import html
import time
from collections import defaultdict
from collections.abc import Sequence

from edgebench.report.sections import hosts_html, model_figures_html
from edgebench.report.table import COLUMNS, flat_row
from edgebench.results import NOISY_PCT, CellResult
from edgebench.store import RunInfo

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
        sections.append(f"<h2>{_esc(model)}</h2>" + model_figures_html(model, mc) + _table(mc))
    sections.append(hosts_html(cells))
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
