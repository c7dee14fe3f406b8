"""HTML pieces of the report beyond its tables: the study's figures per model, LoadGen's own
figures, and device against device. Used by report/html.py; nothing here imports a framework."""

from __future__ import annotations

import html
from collections.abc import Sequence

from edgebench.report.delegates import delegate_html
from edgebench.report.figures import host_figures, model_figures, to_svg
from edgebench.results import CellResult


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) else "-"


def model_figures_html(model: str, cells: Sequence[CellResult]) -> str:
    """The study's figures for one model, then LoadGen's figures when cells ran a scenario."""
    parts = []
    for fig in model_figures(model, cells):
        note = f'<p class="note">{_e(fig.note)}</p>' if fig.note else ""
        parts.append(
            f'<div class="figure" id="fig-{_e(model)}-{_e(fig.key)}">{to_svg(fig)}{note}</div>'
        )
    return _grid(parts) + delegate_html(cells) + loadgen_table(cells) + explain_table(cells)


def explain_table(cells: Sequence[CellResult]) -> str:
    """What each compiler did (`edgebench explain`): nodes before and after, the fusions, where
    the nodes ran and what fell back, and the op category that took the most time."""
    rows = [c for c in cells if c.status == "ok" and c.explain and "error" not in c.explain]
    if not rows:
        return ""
    head = (
        "<tr><th class='l'>compiler</th><th class='l'>precision</th><th>batch</th>"
        "<th>nodes before</th><th>nodes after</th><th class='l'>fused</th>"
        "<th class='l'>ran on</th><th class='l'>fallback</th><th class='l'>most time</th></tr>"
    )
    body = []
    for c in rows:
        ex = c.explain or {}
        fusions = "; ".join(
            f"{_e(f['before'])} &rarr; {_e(f['after'])} &times;{f['count']}"
            for f in (ex.get("fusions") or [])[:3]
        )
        placement = ex.get("placement") or {}
        engines = ", ".join(f"{k} {v}" for k, v in (placement.get("engines") or {}).items())
        fallback = ", ".join(f"{k} {v}" for k, v in (placement.get("fallback_ops") or {}).items())
        cats = (ex.get("profile") or {}).get("categories") or []
        top = next((x for x in cats if x["category"] != "unattributed"), None)
        most = f"{_e(top['category'])} {100 * top['share']:.0f}%" if top else "-"
        body.append(
            f"<tr><td class='l'>{_e(c.compiler)}</td><td class='l'>{_e(c.precision)}</td>"
            f"<td>{c.batch_size}</td><td>{_e((ex.get('before') or {}).get('nodes', '-'))}</td>"
            f"<td>{_e((ex.get('after') or {}).get('nodes', '-'))}</td>"
            f"<td class='l'>{fusions or '-'}</td><td class='l'>{_e(engines) or '-'}</td>"
            f"<td class='l'>{_e(fallback) or '-'}</td><td class='l'>{most}</td></tr>"
        )
    return (
        "<h3>What each compiler did</h3><table class='sortable eb-explain'><thead>"
        f"{head}</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _grid(figures: list[str]) -> str:
    """Figures two abreast where the page is wide enough, one above the other where not."""
    if not figures:
        return ""
    style = "display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:4px 16px"
    return f'<div class="eb-figures" style="{style}">{"".join(figures)}</div>'


def loadgen_table(cells: Sequence[CellResult]) -> str:
    """MLPerf LoadGen's own summary of each cell that ran a scenario."""
    rows = [c for c in cells if c.status == "ok" and c.loadgen and "validity" in c.loadgen]
    if not rows:
        return ""
    head = (
        "<tr><th class='l'>compiler</th><th class='l'>precision</th><th>batch</th>"
        "<th class='l'>scenario</th><th class='l'>result</th><th>samples/s</th>"
        "<th>p90 ms</th><th>p99 ms</th><th>queries</th><th class='l'>why invalid</th></tr>"
    )
    body = []
    for c in rows:
        lg = c.loadgen or {}
        body.append(
            f"<tr><td class='l'>{_e(c.compiler)}</td><td class='l'>{_e(c.precision)}</td>"
            f"<td>{c.batch_size}</td><td class='l'>{_e(lg.get('scenario'))}</td>"
            f"<td class='l'>{_e(lg.get('validity'))}</td>"
            f"<td>{_num(lg.get('samples_per_s'), 4)}</td>"
            f"<td>{_num(lg.get('p90_ms'))}</td><td>{_num(lg.get('p99_ms'))}</td>"
            f"<td>{_e(lg.get('query_count'))}</td>"
            f"<td class='l'>{_e(lg.get('invalid_reason'))}</td></tr>"
        )
    return (
        "<h3>MLPerf LoadGen</h3><table class='sortable'><thead>"
        f"{head}</thead><tbody>{''.join(body)}</tbody></table>"
    )


def hosts_html(cells: Sequence[CellResult]) -> str:
    """Device against device, when the cells come from more than one machine or target."""
    figs = host_figures(cells)
    if not figs:
        return ""
    return "<h2>Device against device</h2>" + _grid(
        [f'<div class="figure" id="fig-{_e(f.key)}">{to_svg(f)}</div>' for f in figs]
    )
