"""The report as Markdown: hosts, then per model a table of the cells that matter for reading
(and, with `--figures`, links to the figure files)."""

from __future__ import annotations

import html
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from edgebench.report.coverage import coverage, worth_showing
from edgebench.report.coverage import markdown as coverage_lines
from edgebench.report.delegates import delegate_markdown
from edgebench.report.figures import marks_of
from edgebench.report.table import option_changes
from edgebench.results import DRIFT_PCT, NOISY_PCT, CellResult
from edgebench.store import RunInfo


def _n(value: object, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, (int, float)):
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
    return str(value)


def _interval(low: float, high: float) -> str:
    """A confidence interval with both ends to the same decimals (not `0.41-0.412`): three
    significant digits of the lower end."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{_n(low)}-{_n(high)}"
    decimals = max(0, 2 - math.floor(math.log10(abs(low)))) if low else 3
    return f"{low:.{decimals}f}-{high:.{decimals}f}"


def _cell_text(text: object) -> str:
    """A table cell: HTML escaped as the HTML report does (Markdown renderers pass raw HTML
    through), pipes escaped, one line."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def render_markdown(
    runs: Sequence[RunInfo],
    cells: Sequence[CellResult],
    figures: dict[str, list[Path]] | None = None,
    title: str = "edgebench report",
) -> str:
    """The report as one Markdown string; `figures` maps a model to its figure files."""
    lines = [f"# {title}", ""]
    n_ok = sum(c.status == "ok" for c in cells)
    lines.append(
        f"{len(cells)} cells ({n_ok} ok), generated {time.strftime('%Y-%m-%d %H:%M:%S')}. "
        f"\u2020 random weights (speed only); * noisy: other processes used more than "
        f"{NOISY_PCT:g}% of the CPU while timed, or the host's speed moved by more than "
        f"{DRIFT_PCT:g}% within the timed window."
    )
    lines.append("")
    for r in runs:
        cpu = r.system.get("cpu", {})
        suite = (r.config.get("suite") or {}).get("name")
        lines.append(
            f"- run `{r.run_id}`"
            + (f" (suite {suite})" if suite else "")
            + f" on {r.system.get('hostname')}: {cpu.get('model')}, {cpu.get('usable_cores')}"
            f" cores, {r.system.get('os')}, edgebench {r.edgebench_version}"
            + (f" @ {r.git_commit}" if r.git_commit else "")
        )
    if worth_showing(cells):
        lines += ["", "## Which compiler takes which model", "", *coverage_lines(coverage(cells))]
    by_model: dict[str, list[CellResult]] = defaultdict(list)
    for c in cells:
        by_model[c.model].append(c)
    show_power = any(getattr(c, "power_w", None) for c in cells)
    show_acc = any(c.accuracy for c in cells)
    show_lg = any(c.loadgen and "validity" in c.loadgen for c in cells)
    show_threads = len({c.threads for c in cells}) > 1
    show_target = len({_target(c) for c in cells}) > 1
    show_options = any(option_changes(c) for c in cells)
    show_accel = any(c.accelerator != "cpu" for c in cells)
    for model in sorted(by_model):
        lines += ["", f"## {model}", ""]
        for path in (figures or {}).get(model, []):
            if path.suffix == ".svg":
                lines.append(f"![{path.stem}]({path.as_posix()})")
        if (figures or {}).get(model):
            lines.append("")
        head = [
            "compiler",
            *(["accelerator"] if show_accel else []),
            "precision",
            "batch",
            *(["target"] if show_target else []),
            *(["threads"] if show_threads else []),
            *(["options"] if show_options else []),
            "status",
            "p50 ms",
            "95% CI ms",
            "p99 ms",
            "img/s",
            "size MB",
            "gzip MB",
        ]
        if show_power:
            head += ["power W", "J/inf"]
        if show_acc:
            head += ["top1/mAP"]
        if show_lg:
            head += ["LoadGen"]
        head += ["notes"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append(
            "|"
            + "|".join(
                "---" if i < 2 or h in ("notes", "options", "accelerator") else "---:"
                for i, h in enumerate(head)
            )
            + "|"
        )
        for c in by_model[model]:
            lat = c.latency_ms
            row = [
                c.compiler,
                *([c.accelerator] if show_accel else []),
                c.precision,
                str(c.batch_size),
                *([_target(c)] if show_target else []),
                *([str(c.threads)] if show_threads else []),
                *([option_changes(c) or "-"] if show_options else []),
                c.status,
                _n(lat.p50 if lat else None),
                _interval(lat.ci95_low, lat.ci95_high) if lat else "-",
                _n(lat.p99 if lat else None),
                _n(c.throughput_ips, 4),
                _n(c.model_size_mb),
                _n(c.model_size_gzip_mb),
            ]
            if show_power:
                power = getattr(c, "power_w", None)
                avg = power.get("avg") if isinstance(power, dict) else power
                row += [_n(avg), _n(getattr(c, "energy_j_per_inf", None))]
            if show_acc:
                acc = c.accuracy or {}
                row += [_n(acc.get("top1", acc.get("map")))]
            if show_lg:
                lg = c.loadgen or {}
                row += [f"{lg.get('scenario')} {lg.get('validity')}" if "validity" in lg else "-"]
            row += [marks_of(c) + (f" {c.error}" if c.error else "")]
            lines.append("| " + " | ".join(_cell_text(v) for v in row) + " |")
        from edgebench.report.ranking import groups
        from edgebench.report.ranking import lines as ranking_lines

        for (_, batch, host), ranked in groups(by_model[model]).items():
            lines += ["", f"Fastest first, batch {batch}, {host} (`2=`: cannot be ordered):"]
            lines += ["", "```", *ranking_lines(ranked), "```"]
        delegates = delegate_markdown(by_model[model])
        if delegates:
            lines += ["", "CPU delegate against GPU and NPU delegates:", "", *delegates]
        explained = [c for c in by_model[model] if c.explain]
        if explained:
            from edgebench.explain.render import explanation_lines

            lines += ["", "What each compiler did (`edgebench explain`):", "", "```"]
            for c in explained:
                lines += explanation_lines(c)
            lines.append("```")
    hosts = [p for p in (figures or {}).get("hosts", []) if p.suffix == ".svg"]
    if hosts:
        lines += ["", "## Device against device", ""]
        lines += [f"![{path.stem}]({path.as_posix()})" for path in hosts]
    return "\n".join(lines) + "\n"


def _target(cell: CellResult) -> str:
    """The device a cell was measured on (`local` for this host), `*` when emulated."""
    return cell.target_name + ("*" if cell.emulated else "")
