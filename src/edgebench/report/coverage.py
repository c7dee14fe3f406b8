"""Which compiler can take which model at all: a compiler x model coverage matrix.

Each square is one model under one compiler at one precision: converted? ran? agreed with the
FP32 reference? A square that did not get through says where it stopped (route, convert, run,
fidelity) and why, in the converter's or runtime's own words. A compiler's coverage is the share
of its squares that got through all three. Imports no framework.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from edgebench.results import CellResult, fidelity_verdict


@dataclass(frozen=True)
class Square:
    model: str
    compiler: str
    precision: str
    stage: str  # "ok", or where it stopped: route, convert, run, fidelity, skipped
    reason: str = ""
    placement: str = ""  # on an accelerator: what it took (NPU 64/64 ops, GPU all ops)

    @property
    def passed(self) -> bool:
        return self.stage == "ok"

    @property
    def mark(self) -> str:
        mark = "\u2713" if self.passed else f"\u2717 {self.stage}"
        return f"{mark} ({self.placement})" if self.placement else mark


def square(cell: CellResult) -> Square:
    error = cell.error or ""
    if cell.status == "unsupported":
        stage = "route" if "route" in error else "unsupported"
    elif cell.status == "skipped":
        stage = "skipped"
    elif cell.status == "failed":
        stage = "convert" if error.startswith("conversion failed") else "run"
    else:
        why = fidelity_verdict(cell)
        stage, error = ("fidelity", why) if why else ("ok", "")
    return Square(cell.model, column_of(cell), cell.precision, stage, error, placement(cell))


def column_of(cell: CellResult) -> str:
    """A compiler's column: its name, and the accelerator where that is not the CPU (marked
    for a software device)."""
    if cell.accelerator == "cpu":
        return cell.compiler
    return f"{cell.compiler} {cell.accelerator}" + ("\u00a7" if cell.software_device else "")


def placement(cell: CellResult) -> str:
    """What an accelerator took of the model, as measured: an NPU's offloaded ops, or whether
    LiteRT ran every op on the GPU."""
    if cell.accelerator == "cpu" or cell.status != "ok":
        return ""
    npu = cell.artifact_info.get("npu") or {}
    if npu.get("ops_total"):
        return f"{npu['ops_offloaded']}/{npu['ops_total']} ops on the NPU"
    full = (cell.accelerator_info or {}).get("fully_accelerated")
    if full is None:
        return ""
    return "all ops" if full else "some ops on the CPU"


@dataclass(frozen=True)
class Coverage:
    squares: dict[tuple[str, str, str], Square]  # (model, compiler, precision) -> square
    models: list[str]
    columns: list[tuple[str, str]]  # (compiler, precision), in first-seen order

    def percent(self, compiler: str) -> float | None:
        mine = [s for (_, c, _), s in self.squares.items() if c == compiler]
        if not mine:
            return None
        return 100.0 * sum(s.passed for s in mine) / len(mine)

    @property
    def compilers(self) -> list[str]:
        return list(dict.fromkeys(c for c, _ in self.columns))


def coverage(cells: Sequence[CellResult]) -> Coverage:
    """The matrix of the cells (the last row of each, batch 1 where several were measured)."""
    squares: dict[tuple[str, str, str], Square] = {}
    for cell in sorted(cells, key=lambda c: c.batch_size, reverse=True):
        squares[cell.model, column_of(cell), cell.precision] = square(cell)
    models = list(dict.fromkeys(c.model for c in cells))
    columns = list(dict.fromkeys((column_of(c), c.precision) for c in cells))
    return Coverage(squares, models, columns)


def worth_showing(cells: Sequence[CellResult]) -> bool:
    """The matrix answers "which compiler can take my model at all": for users' and corpus
    model files under more than one compiler. Zoo models convert everywhere by construction,
    and their random-weight int8 cells (calibrated on random inputs) would all read as failed."""
    has_files = any(c.weights.startswith("file:") for c in cells)
    return has_files and len({c.compiler for c in cells}) > 1


def markdown(cov: Coverage) -> list[str]:
    """The matrix as Markdown lines: a table, the coverage per compiler, numbered reasons."""
    lines = [
        "| model | " + " | ".join(f"{c} {p}" for c, p in cov.columns) + " |",
        "| --- |" + " --- |" * len(cov.columns),
    ]
    notes: list[str] = []
    for model in cov.models:
        row = []
        for compiler, precision in cov.columns:
            sq = cov.squares.get((model, compiler, precision))
            if sq is None:
                row.append("")
                continue
            text = sq.mark
            if sq.reason:
                notes.append(sq.reason.replace("|", "\\|").replace("\n", " ")[:300])
                text += f" [{len(notes)}]"
            row.append(text)
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    lines += ["", "Coverage (converted, ran, and agreed with the FP32 reference):", ""]
    for compiler in cov.compilers:
        pct = cov.percent(compiler)
        lines.append(f"- {compiler}: {pct:.0f}%" if pct is not None else f"- {compiler}: -")
    if notes:
        lines += [""] + [f"{i}. {html.escape(n, quote=False)}" for i, n in enumerate(notes, 1)]
    return lines


def html_table(cov: Coverage) -> str:
    """The matrix as an HTML table, a square's reason in its tooltip."""
    head = "".join(f"<th>{html.escape(f'{c} {p}')}</th>" for c, p in cov.columns)
    rows = []
    for model in cov.models:
        tds = []
        for compiler, precision in cov.columns:
            sq = cov.squares.get((model, compiler, precision))
            if sq is None:
                tds.append("<td></td>")
                continue
            color = "#1a7f37" if sq.passed else "#b00"
            tds.append(
                f'<td style="color:{color}" title="{html.escape(sq.reason)}">'
                f"{html.escape(sq.mark)}</td>"
            )
        rows.append(f'<tr><td class="l">{html.escape(model)}</td>{"".join(tds)}</tr>')
    totals = "".join(
        f"<td>{cov.percent(c):.0f}%</td>" if cov.percent(c) is not None else "<td>-</td>"
        for c, _ in cov.columns
    )
    return (
        '<h2>Which compiler takes which model</h2><div class="wide"><table>'
        f'<thead><tr><th class="l">model</th>{head}</tr></thead><tbody>{"".join(rows)}'
        f'<tr><td class="l">coverage (per compiler)</td>{totals}</tr></tbody></table></div>'
    )


__all__ = [
    "Coverage",
    "Square",
    "column_of",
    "coverage",
    "fidelity_verdict",
    "html_table",
    "markdown",
    "placement",
    "worth_showing",
]
