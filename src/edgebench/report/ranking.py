"""Which way of running a model is fastest, said only as far as the figures can say it.

Per model, batch size and device, the ok cells in order of median latency, in ranks: a cell
shares the rank of the one before it (`2=`) when the two cannot be told apart:

- their 95% confidence intervals of the median overlap;
- either was timed on a busy host (other processes above 10% of the CPU) or in a window whose
  speed drifted (results.CellResult.noisy, .drifted): the load that moves between cells is what
  intervals cannot show, so a busy host never orders two cells;
- the host-speed reference timed around each (harness/noise.py) changed between them by as much
  as their difference.

A reader, and a test, gets the order and the reason for every tie. Imports no framework.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from edgebench.report.figures import host_of, marks_of
from edgebench.results import CellResult


@dataclass(frozen=True)
class Ranked:
    rank: int
    tied: bool  # shares its rank with the cell before it
    cell: CellResult
    why_tied: str = ""  # why it could not be told from the cell before it

    @property
    def label(self) -> str:
        return f"{self.rank}=" if self.tied or self.why_tied else str(self.rank)


def _apart(a: CellResult, b: CellResult) -> str:
    """'' when b is shown slower than a; else why the two are tied."""
    if a.noisy or a.drifted or b.noisy or b.drifted:
        return "timed on a busy or drifting host (*)"
    la, lb = a.latency_ms, b.latency_ms
    if la is None or lb is None:
        return "no interval"
    if lb.ci95_low <= la.ci95_high:
        return "95% intervals overlap"
    ra, rb = a.host_reference_ms, b.host_reference_ms
    if ra and rb and la.p50 > 0:
        host_change = abs(rb / ra - 1.0)
        if lb.p50 / la.p50 - 1.0 <= host_change:
            return f"the host's speed changed by {100 * host_change:.0f}% between them"
    return ""


def rank(cells: Sequence[CellResult]) -> list[Ranked]:
    """The ok cells fastest first, each with its rank; cells that cannot be told from the one
    before them share its rank (tied chains: a = b and b = c rank together)."""
    ok = sorted(
        (c for c in cells if c.status == "ok" and c.latency_ms is not None),
        key=lambda c: c.latency_ms.p50,  # type: ignore[union-attr]
    )
    out: list[Ranked] = []
    for i, cell in enumerate(ok):
        if i == 0:
            out.append(Ranked(1, False, cell))
            continue
        why = _apart(ok[i - 1], cell)
        if why:
            out.append(Ranked(out[-1].rank, True, cell, why))
            if not out[-2].tied:  # the chain's first member is tied too
                out[-2] = Ranked(out[-2].rank, True, out[-2].cell, out[-2].why_tied)
        else:
            out.append(Ranked(i + 1, False, cell))
    return out


def groups(cells: Sequence[CellResult]) -> dict[tuple[str, int, str], list[Ranked]]:
    """The rankings a report shows: per model, batch size and device, where there are two or
    more ok cells to order."""
    by: dict[tuple[str, int, str], list[CellResult]] = defaultdict(list)
    for c in cells:
        if c.status == "ok":
            by[(c.model, c.batch_size, host_of(c))].append(c)
    return {k: rank(v) for k, v in sorted(by.items()) if len(v) > 1}


def name_of(c: CellResult) -> str:
    """How a ranking names a cell: compiler, accelerator when not the CPU, precision, options."""
    from edgebench.report.table import option_changes

    acc = "" if c.accelerator == "cpu" else f" {c.accelerator}"
    options = option_changes(c)
    return f"{c.compiler}{acc} {c.precision}" + (f" ({options})" if options else "") + (marks_of(c))


def lines(ranked: Sequence[Ranked]) -> list[str]:
    """One line a cell: `1=  tflite int8  0.91 ms (0.89-0.93)  tied: 95% intervals overlap`."""
    out = []
    for r in ranked:
        lat = r.cell.latency_ms
        assert lat is not None
        figure = f"{lat.p50:.3g} ms ({lat.ci95_low:.3g}-{lat.ci95_high:.3g})"
        tie = f"  tied: {r.why_tied}" if r.why_tied else ""
        out.append(f"{r.label:<4}{name_of(r.cell)}  {figure}{tie}")
    return out


__all__ = ["Ranked", "groups", "lines", "name_of", "rank"]
