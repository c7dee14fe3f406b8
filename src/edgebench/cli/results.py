"""`edgebench results`, `export`, `report` and `compare`: reading the store."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgebench.cli.common import (
    DbOption,
    RunsOption,
    check_output_file,
    check_output_folder,
    err,
    open_store_for_reading,
    out,
    select_runs,
)
from edgebench.errors import UsageError


def results(
    db: DbOption = Path("edgebench.db"),
    run: RunsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
    all_runs: Annotated[
        bool, typer.Option("--runs", help="List the runs in the store instead.")
    ] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, however wide the terminal.")
    ] = False,
    cell: Annotated[
        int | None,
        typer.Option(
            "--cell",
            min=1,
            help="Print one cell whole: the N-th row of the table (from 1), with the "
            "framework's full error message.",
        ),
    ] = None,
) -> None:
    """Show stored results."""
    from rich.table import Table

    from edgebench.report.table import dumps, rich_table, to_json

    with open_store_for_reading(db) as store:
        if all_runs and as_json:
            print(dumps([asdict(r) for r in store.runs()]))
            return
        if all_runs:
            t = Table(title=str(db))
            for col in ("run id", "created", "cells", "edgebench", "commit", "host"):
                t.add_column(col)
            for r in store.runs():
                t.add_row(
                    r.run_id,
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)),
                    str(r.n_cells),
                    r.edgebench_version,
                    r.git_commit or "-",
                    str(r.system.get("hostname")),
                )
            out.print(t)
            return
        run_ids = select_runs(store, run, db)
        cells = [c for r in run_ids for c in store.cells(r, samples=False)]
    if cell is not None:
        if cell > len(cells):
            raise UsageError(f"--cell {cell}: the runs shown hold {len(cells)} cells")
        cells = cells[cell - 1 : cell]
        if not as_json:
            _print_whole(cells[0].to_dict(samples=False))
            return
    if as_json:
        print(to_json(cells))
    else:
        out.print(rich_table(cells, title=", ".join(run_ids), width=out.width, wide=wide))


def _print_whole(record: dict[str, Any]) -> None:
    """One cell, field by field (the empty ones left out), its whole error message last."""
    import json

    detail = record.pop("error_detail", None)
    for key, value in record.items():
        if value in (None, "", [], {}):
            continue
        shown = value if isinstance(value, str | int | float) else json.dumps(value, default=str)
        print(f"{key}: {shown}")
    if detail:
        print("error, whole:")
        print(detail)


def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="json or csv.")] = "json",
    db: DbOption = Path("edgebench.db"),
    run: RunsOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File \\[default: stdout].")
    ] = None,
    samples: Annotated[bool, typer.Option(help="Include raw latency samples (json).")] = False,
) -> None:
    """Export stored results as JSON or CSV."""
    from edgebench.report.table import to_csv, to_json

    if fmt not in ("json", "csv"):
        raise UsageError(f"--format takes json or csv, not '{fmt}'")
    check_output_file(output, "--output")
    with open_store_for_reading(db) as store:
        run_ids = select_runs(store, run, db)
        cells = [c for r in run_ids for c in store.cells(r, samples=samples)]
    text = to_json(cells, samples=samples) if fmt == "json" else to_csv(cells)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text)
        err.print(f"{len(cells)} records written to {output}")


def report(
    db: DbOption = Path("edgebench.db"),
    run: RunsOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write \\[default: edgebench-report.FORMAT]."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="html, md or csv.")] = "html",
    figures: Annotated[
        Path | None,
        typer.Option(help="Also write every figure into this folder: SVG, and PNG (matplotlib)."),
    ] = None,
) -> None:
    """Write a report from the store: self-contained HTML (figures, tables), Markdown or CSV."""
    from edgebench.report.write import write_report

    check_output_file(output or Path(f"edgebench-report.{fmt}"), "--output")
    check_output_folder(figures, "--figures")
    with open_store_for_reading(db) as store:
        run_ids = select_runs(store, run, db)
    path, written = write_report(db, run_ids, output, fmt, figures)
    err.print(
        f"report written to {path}"
        + (f"; {len(written)} figure files in {figures}" if figures else "")
    )


def _side_by_side_timer(models: list[str]) -> Any:
    """For `compare --side-by-side`: times two cells' artifacts alternately in one worker; the
    model (a zoo name, corpus:NAME, or the file a run names) is read once per name."""
    from edgebench.errors import EdgebenchError
    from edgebench.harness.runner import Runner
    from edgebench.harness.side_by_side import can_time, time_side_by_side
    from edgebench.models import looks_like_path
    from edgebench.settings import GridSettings
    from edgebench.store import new_run_id

    specs: dict[str, Any] = {}

    def spec_of(name: str) -> Any:
        if name not in specs:
            files = [m for m in models if looks_like_path(m) and Path(m).stem == name]
            ref = files[0] if files else name
            settings = GridSettings(models=[ref], compilers=["null"], weights="random")
            with Runner(settings, new_run_id()) as runner:
                (prepared,) = runner.prepare()
            specs[name] = prepared.spec
        return specs[name]

    def timer(a: Any, b: Any, effect: float) -> Any:
        why = can_time(a) or can_time(b)
        if why:
            return why
        err.print(f"timing {a.model} {a.compiler} {a.precision} b{a.batch_size} side by side")
        try:
            return time_side_by_side(a, b, spec_of(a.model), effect, timeout_s=600.0)
        except EdgebenchError as exc:
            return str(exc)

    return timer


def compare(
    run_a: Annotated[str, typer.Argument(help="The baseline run id.")],
    run_b: Annotated[str, typer.Argument(help="The run to judge against it.")],
    db: DbOption = Path("edgebench.db"),
    fail_on: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-on",
            help="METRIC:PCT%, e.g. p50:5%: exit 1 when a cell is worse by more than PCT and "
            "the difference is significant. Metrics: p50, p90, p99, mean, throughput.",
        ),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level of the tests.")] = 0.05,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Judge the raw figures: let cells measured under noise (above 10% foreign "
            "CPU, or a drifting window) or on a host whose speed changed fail the gate too.",
        ),
    ] = False,
    side_by_side: Annotated[
        bool,
        typer.Option(
            "--side-by-side",
            help="Time each pair's two artifacts again, now, alternately in one worker, and "
            "judge the pair by that paired ratio (a drift of the host between the runs cancels).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """Compare two runs cell by cell, with each difference's significance; gate a CI.

    A cell measured under noise on either side is `inconclusive: noisy` rather than a
    regression, and a change the host's own speed change accounts for (the reference work
    timed around each cell) is `inconclusive: host speed changed by X%`, unless --strict."""
    from edgebench.report.compare import (
        compare_cells,
        comparison_table,
        gate_lines,
        other_content,
        parse_fail_on,
        to_records,
    )
    from edgebench.report.table import dumps
    from edgebench.results import latest_cells

    rules = [parse_fail_on(text) for text in fail_on or []]
    if not 0 < alpha < 1:
        raise UsageError("--alpha must lie between 0 and 1")
    with open_store_for_reading(db) as store:
        store.run(run_a), store.run(run_b)  # unknown ids: one line, exit 2
        cells_a = latest_cells(store.cells(run_a))
        cells_b = latest_cells(store.cells(run_b))
        models = [
            *store.run(run_b).config.get("models", []),
            *store.run(run_a).config.get("models", []),
        ]
    timer = _side_by_side_timer(models) if side_by_side else None
    comparison = compare_cells(cells_a, cells_b, rules, alpha, strict, timer)
    if not comparison.pairs and not comparison.newly_failed:
        why = "; ".join(other_content(comparison, run_a, run_b))
        raise UsageError(
            f"runs {run_a} and {run_b} have no cells in common" + (f" ({why})" if why else "")
        )
    if as_json:
        print(dumps(to_records(comparison)))
    else:
        out.print(comparison_table(comparison, run_a, run_b))
    for line in gate_lines(comparison, rules, run_a, run_b):
        err.print(escape(line), soft_wrap=True)
    if comparison.failed:
        raise typer.Exit(1)
