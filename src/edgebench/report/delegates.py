"""The study's delegate table: each model's precisions on the CPU delegate against the GPU
delegate (and the NPU where measured), per device, as median latency.

A row is one model, compiler, precision, batch size and device (target); a column one
accelerator. A figure from a software device (Mesa's llvmpipe for a GPU, OpenVINO's CPU for an
NPU) carries the software mark (report/figures.py) and the note says why: it is never set
beside a real accelerator's without it.
Imports no framework.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from edgebench.report.figures import SOFTWARE_MARK
from edgebench.results import CellResult

ORDER = ("cpu", "gpu", "npu")
SOFTWARE_NOTE = (
    f"{SOFTWARE_MARK} a software device: a CPU standing in for the accelerator (Mesa's "
    "llvmpipe for a GPU, OpenVINO's CPU device behind an NPU's dispatch); it shows that the "
    "path works and what it computes, not how fast the hardware would be"
)


@dataclass
class Row:
    model: str
    compiler: str
    precision: str
    batch: int
    device: str
    cells: dict[str, CellResult] = field(default_factory=dict)  # accelerator -> its cell

    def shown(self, accelerator: str) -> str:
        cell = self.cells.get(accelerator)
        if cell is None:
            return "-"
        if cell.status != "ok" or cell.latency_ms is None:
            return cell.status
        mark = SOFTWARE_MARK if cell.software_device else ""
        return f"{cell.latency_ms.p50:.3g} ms{mark}"

    def ratio(self, accelerator: str) -> str:
        """How many times the CPU's latency the accelerator's is (below 1: faster)."""
        base, other = self.cells.get("cpu"), self.cells.get(accelerator)
        if not base or not other or not base.latency_ms or not other.latency_ms:
            return "-"
        if base.status != "ok" or other.status != "ok" or base.latency_ms.p50 <= 0:
            return "-"
        return f"{other.latency_ms.p50 / base.latency_ms.p50:.2g}x"


def delegate_rows(cells: Sequence[CellResult]) -> list[Row]:
    """The rows of the table, for the models measured on more than one accelerator."""
    rows: dict[tuple[str, str, str, int, str], Row] = {}
    for c in cells:
        key = (c.model, c.compiler, c.precision, c.batch_size, c.target_name)
        row = rows.setdefault(key, Row(*key))
        row.cells[c.accelerator] = c
    return [r for r in rows.values() if len(r.cells) > 1]


def accelerators_of(rows: Sequence[Row]) -> list[str]:
    return [a for a in ORDER if any(a in r.cells for r in rows)]


def delegate_html(cells: Sequence[CellResult]) -> str:
    rows = delegate_rows(cells)
    if not rows:
        return ""
    accs = accelerators_of(rows)
    head = "".join(f"<th>{a.upper()} p50</th>" for a in accs) + "".join(
        f"<th>{a.upper()} / CPU</th>" for a in accs if a != "cpu"
    )
    body = []
    for r in rows:
        values = "".join(f"<td>{html.escape(r.shown(a))}</td>" for a in accs)
        ratios = "".join(f"<td>{r.ratio(a)}</td>" for a in accs if a != "cpu")
        text = [html.escape(v) for v in (r.compiler, r.precision, r.device)]
        body.append(
            f"<tr><td class='l'>{text[0]}</td><td class='l'>{text[1]}</td><td>{r.batch}</td>"
            f"<td class='l'>{text[2]}</td>{values}{ratios}</tr>"
        )
    note = SOFTWARE_NOTE if any(c.software_device for r in rows for c in r.cells.values()) else ""
    return (
        "<h3>CPU delegate against GPU and NPU delegates</h3><table class='sortable eb-delegates'>"
        "<thead><tr><th class='l'>compiler</th><th class='l'>precision</th><th>batch</th>"
        f"<th class='l'>device</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (f'<p class="note">{html.escape(note)}</p>' if note else "")
    )


def delegate_markdown(cells: Sequence[CellResult]) -> list[str]:
    rows = delegate_rows(cells)
    if not rows:
        return []
    accs = accelerators_of(rows)
    ratios = [a for a in accs if a != "cpu"]
    lines = [
        "| model | compiler | precision | batch | device | "
        + " | ".join(f"{a.upper()} p50" for a in accs)
        + "".join(f" | {a.upper()} / CPU" for a in ratios)
        + " |",
        "| --- " * (5 + len(accs) + len(ratios)) + "|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.compiler} | {r.precision} | {r.batch} | {r.device} | "
            + " | ".join(r.shown(a) for a in accs)
            + "".join(f" | {r.ratio(a)}" for a in ratios)
            + " |"
        )
    if any(c.software_device for r in rows for c in r.cells.values()):
        lines += ["", SOFTWARE_NOTE]
    return lines


__all__ = ["Row", "delegate_html", "delegate_markdown", "delegate_rows"]
