"""The `edgebench` command line. Imports no framework: that happens in worker processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from edgebench import __version__
from edgebench.errors import EdgebenchError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark deep-learning inference compilers on this host: speed, size, memory.",
)
# Piped output (make bench, CI logs) gets a wide table instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

DbOption = Annotated[Path, typer.Option("--db", help="Results store (SQLite file).")]
# Options that `run` and `explain` share.
ModelsOption = Annotated[
    str, typer.Option("--model", "-m", help="Zoo names or model files, comma separated.")
]
CompilersOption = Annotated[
    str | None,
    typer.Option("--compiler", "-c", help="Compilers, comma separated \\[default: all available]."),
]
PrecisionsOption = Annotated[
    str, typer.Option("--precision", "-p", help="fp32, fp16, bf16, int8-dynamic, int8.")
]
BatchesOption = Annotated[str, typer.Option("--batch", "-b", help="Batch sizes, comma separated.")]
ThreadsOption = Annotated[
    int | None, typer.Option("--threads", "-t", help="Threads per runtime \\[default: all cores].")
]
XnnpackOption = Annotated[
    bool, typer.Option("--xnnpack/--no-xnnpack", help="TFLite's XNNPACK delegate.")
]
InputShapeOption = Annotated[
    str | None,
    typer.Option(help="Per-sample input shape(s) for models with dynamic inputs, e.g. 224,224,3."),
]
CalibSizeOption = Annotated[int, typer.Option(help="Calibration samples for int8.")]
CalibDatasetOption = Annotated[
    str | None, typer.Option(help="Real int8 calibration data (same kinds as --dataset).")
]
CacheDirOption = Annotated[
    Path | None, typer.Option(help="Artifact cache \\[default: ~/.cache/edgebench].")
]
CellTimeoutOption = Annotated[
    float, typer.Option(help="Seconds before a conversion or measurement is killed.")
]


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(p) for p in _split(text)]
    except ValueError:
        raise UsageError(f"{flag} takes whole numbers separated by commas, not '{text}'") from None


def _options(pairs: list[str]) -> dict[str, object]:
    """`KEY=VALUE` compiler options; numbers and true/false become numbers and booleans."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option takes KEY=VALUE, not '{pair}'")
        value: object = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(text)
                    break
                except ValueError:
                    continue
        options[key.strip()] = value
    return options


def new_progress(console: Console) -> Any:
    """The spinner line `run` and `suite run` show while cells convert and measure."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def print_cell(console: Console, cell: Any) -> None:
    """One line per finished cell, and its noise warning."""
    mark = {"ok": "[green]ok[/]", "failed": "[red]failed[/]"}.get(
        cell.status, f"[yellow]{cell.status}[/]"
    )
    p50 = f" p50 {cell.latency_ms.p50:.2f} ms" if cell.latency_ms else ""
    console.print(
        f"{mark} {cell.model} {cell.compiler} {cell.precision} b{cell.batch_size}{p50}"
        + escape(f": {cell.error}" if cell.error else "")
    )
    for warning in cell.warnings:
        if warning.startswith("noisy"):
            console.print(f"  [yellow]warning:[/] {escape(warning)}")


@app.command("list")
def list_cmd(
    what: Annotated[str, typer.Argument(help="models, compilers, or both when left out")] = "all",
) -> None:
    """List the models and compilers edgebench knows, and whether each can run here."""
    from rich.table import Table

    from edgebench.compilers import list_compilers
    from edgebench.models import list_models

    if what not in ("all", "models", "compilers"):
        raise UsageError(f"edgebench list takes 'models' or 'compilers', not '{what}'")
    if what in ("all", "models"):
        import importlib.util

        t = Table(title="models")
        for col in ("name", "task", "input", "labels", "weights", "needs", "description"):
            t.add_column(col)
        for m in list_models():
            missing = [r for r in m.requires if importlib.util.find_spec(r) is None]
            t.add_row(
                m.name,
                m.task,
                "x".join(str(d) for d in m.inputs[0].shape) if m.inputs else "?",
                m.label_set,
                ", ".join(("random", *m.weights)),
                "ok" if not missing else f"missing {', '.join(missing)}",
                m.description,
            )
        out.print(t)
    if what in ("all", "compilers"):
        t = Table(title="compilers")
        for col in ("name", "status", "precisions", "install", "description"):
            t.add_column(col)
        for c in list_compilers():
            a = c.probe()
            t.add_row(
                c.name,
                "available" if a.available else escape(f"unavailable: {a.reason}"),
                ", ".join(c.precisions),
                escape(f"pip install 'edgebench[{c.extra}]'") if c.extra else c.install_hint,
                c.description,
                style=None if a.available else "yellow",
            )
        out.print(t)


@app.command()
def sysinfo(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show this host: CPU and its flags, cores, memory, OS, Python, libraries, GPUs."""
    from edgebench.sysinfo import package_versions, system_info

    info = {**system_info(), "versions": package_versions()}
    if as_json:
        print(json.dumps(info, indent=1))
        return
    cpu = info["cpu"]
    out.print(f"[bold]CPU[/]      {cpu['model']} ({cpu['arch']})")
    out.print(
        f"[bold]cores[/]    {cpu['logical_cores']} logical, {cpu['usable_cores']} usable,"
        f" {cpu['physical_cores']} physical"
    )
    out.print(f"[bold]flags[/]    {' '.join(cpu['flags']) or '-'}")
    out.print(f"[bold]memory[/]   {info['memory_mb']} MB")
    out.print(f"[bold]OS[/]       {info['os']}")
    out.print(f"[bold]Python[/]   {info['python']}")
    gpus = info["gpus"]
    out.print(f"[bold]GPUs[/]     {', '.join(g['name'] for g in gpus) if gpus else 'none found'}")
    for name, version in info["versions"].items():
        out.print(f"  {name} {version}")
    from edgebench.telemetry import describe_meters

    out.print("[bold]power meters[/]")
    for meter, status in describe_meters():
        out.print(f"  {meter}: {escape(status)}")


@app.command()
def run(
    model: ModelsOption,
    compiler: CompilersOption = None,
    precision: PrecisionsOption = "fp32",
    batch: BatchesOption = "1",
    threads: ThreadsOption = None,
    weights: Annotated[
        str,
        typer.Option(help="pretrained (the model's own), random (speed only), or a weights file."),
    ] = "pretrained",
    db: DbOption = Path("edgebench.db"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result records as JSON.")
    ] = False,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="A compiler option KEY=VALUE, repeatable: ort_graph_opt=basic, "
            "ort_int8_activation=s8, ort_provider=cuda, ov_hint=THROUGHPUT, ov_device=GPU.",
        ),
    ] = None,
    xnnpack: XnnpackOption = True,
    warmup: Annotated[int, typer.Option(help="Untimed runs before the timed window.")] = 5,
    min_runs: Annotated[int, typer.Option(help="Timed runs, at least.")] = 20,
    min_duration: Annotated[float, typer.Option(help="Seconds of timed runs, at least.")] = 2.0,
    cell_timeout: CellTimeoutOption = 900.0,
    input_shape: InputShapeOption = None,
    calib_size: CalibSizeOption = 100,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Accuracy and fidelity data: samples, imagenet:PATH, coco:PATH, "
            "folder:PATH, synthetic[:N]."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Use only the first N samples of --dataset.")
    ] = None,
    calib_dataset: CalibDatasetOption = None,
    fidelity: Annotated[
        bool,
        typer.Option("--fidelity/--no-fidelity", help="Compare each cell with the FP32 reference."),
    ] = True,
    cache_dir: CacheDirOption = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write an HTML report of this run.")
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="MLPerf LoadGen scenario instead of the harness's loop: single-stream, "
            "multi-stream, server, offline (--min-runs and --min-duration become LoadGen's "
            "min query count and min duration)."
        ),
    ] = None,
    target_qps: Annotated[
        float | None,
        typer.Option(
            help="LoadGen: server target QPS / offline expected QPS \\[default: measured]."
        ),
    ] = None,
    target_latency: Annotated[
        float | None,
        typer.Option(
            help="LoadGen: target (server) or expected latency, ms \\[default: measured]."
        ),
    ] = None,
    power_cmd: Annotated[
        str | None,
        typer.Option(help="External power meter: a command that prints watts (USB meters, labs)."),
    ] = None,
    power_hz: Annotated[float, typer.Option(help="Power and thermal samples per second.")] = 10.0,
    idle_s: Annotated[
        float, typer.Option(help="Seconds of idle power sampled before each cell (0: none).")
    ] = 0.5,
    cooldown_s: Annotated[float, typer.Option(help="Seconds to pause between cells.")] = 0.0,
    sustain_s: Annotated[
        float | None,
        typer.Option(help="Run each cell this long and report latency and power drift over it."),
    ] = None,
) -> None:
    """Convert and measure models under compilers and precisions, cell by cell."""
    from edgebench.cache import default_cache_dir
    from edgebench.harness.runner import RunConfig, available_compilers
    from edgebench.harness.timing import StopRule
    from edgebench.report.table import rich_table, to_json

    compilers = _split(compiler) if compiler else available_compilers()
    if not compilers:
        raise UsageError("no compiler is available here; see `edgebench list compilers`")
    if power_hz <= 0 or idle_s < 0 or cooldown_s < 0 or (sustain_s is not None and sustain_s <= 0):
        raise UsageError("--power-hz and --sustain-s must be positive; --idle-s, --cooldown-s >= 0")
    try:
        stop_rule = StopRule(
            warmup_runs=warmup,
            min_runs=min_runs,
            min_duration_s=sustain_s if sustain_s else min_duration,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = RunConfig(
        models=_split(model),
        compilers=compilers,
        precisions=_split(precision),
        batch_sizes=_ints(batch, "--batch"),
        weights=weights,
        options={"xnnpack": xnnpack, **_options(option or [])},
        stop_rule=stop_rule,
        cell_timeout_s=cell_timeout,
        cache_dir=cache_dir or default_cache_dir(),
        calib_size=calib_size,
        input_shape=input_shape,
        dataset=dataset,
        limit=limit,
        calib_dataset=calib_dataset,
        fidelity=fidelity,
        scenario=scenario,
        loadgen={"target_qps": target_qps, "target_latency_ms": target_latency},
        power_cmd=power_cmd,
        power_hz=power_hz,
        idle_s=idle_s,
        cooldown_s=cooldown_s,
        sustain_s=sustain_s,
    )
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    if threads is not None:
        config.threads = threads
    run_id, cells = _run_grid(config, db)
    if as_json:
        print(to_json(cells))
    else:
        out.print(rich_table(cells, title=f"run {run_id}"))
    _print_summary(run_id, cells, db)
    if report is not None:
        _write_report(db, [run_id], report)


def _run_grid(config: Any, db: Path) -> tuple[str, list[Any]]:
    """Runs a grid into the store, a line per finished cell; the run id and its cells.

    Bad input fails before any work; once cells run, each is stored as it finishes, and an
    interrupt keeps them."""
    from edgebench.harness.runner import Runner
    from edgebench.store import ResultStore, check_writable, new_run_id
    from edgebench.sysinfo import git_commit, system_info

    check_writable(db)
    run_id = new_run_id()
    cells: list[Any] = []
    with ResultStore(db) as store:
        progress = new_progress(err)

        def on_cell(cell):
            store.add_cell(cell)
            cells.append(cell)
            progress.advance(task)
            print_cell(progress.console, cell)

        runner = Runner(
            config,
            run_id,
            on_cell=on_cell,
            on_progress=lambda s: progress.update(task, description=s),
        )
        with progress, runner:
            task = progress.add_task("checking models and weights", total=None)
            models = runner.prepare()
            store.add_run(run_id, system_info(), config.to_dict(), __version__, git_commit())
            runner.prepare_references(models)
            progress.update(task, total=runner.cells_total(models))
            try:
                runner.run(models)
            except KeyboardInterrupt:
                err.print(f"interrupted: {len(cells)} cells kept in {db} (run {run_id})")
                raise typer.Exit(130) from None
    return run_id, cells


def _print_summary(run_id: str, cells: list[Any], db: Path) -> None:
    counts = {
        s: sum(c.status == s for c in cells) for s in ("ok", "failed", "unsupported", "skipped")
    }
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    err.print(f"run {run_id}: {summary}; stored in {db}")


def _write_report(db: Path, run_ids: list[str], output: Path) -> None:
    from edgebench.report.html import render
    from edgebench.store import ResultStore

    with ResultStore(db) as store:
        runs = [store.run(r) for r in run_ids]
        cells = [c for r in run_ids for c in store.cells(r, samples=False)]
    if not cells:
        raise UsageError(f"{db}: no results to report")
    output.write_text(render(runs, cells))
    err.print(f"report written to {output}")


def _open_store_for_reading(db: Path):
    from edgebench.store import ResultStore

    if not db.exists():
        raise UsageError(f"{db}: no results store here (run `edgebench run` first, or pass --db)")
    return ResultStore(db)


def _select_runs(store, run: list[str] | None, db: Path) -> list[str]:
    if run:
        return [store.run(r).run_id for r in run]
    latest = store.latest_run_id()
    if latest is None:
        raise UsageError(f"{db}: the store holds no runs")
    return [latest]


@app.command()
def results(
    db: DbOption = Path("edgebench.db"),
    run: Annotated[
        list[str] | None, typer.Option("--run", help="Run id(s) \\[default: the latest].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
    all_runs: Annotated[
        bool, typer.Option("--runs", help="List the runs in the store instead.")
    ] = False,
) -> None:
    """Show stored results."""
    from rich.table import Table

    from edgebench.report.table import rich_table, to_json

    with _open_store_for_reading(db) as store:
        if all_runs:
            t = Table(title=str(db))
            for col in ("run id", "created", "cells", "edgebench", "commit", "host"):
                t.add_column(col)
            import time

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
        run_ids = _select_runs(store, run, db)
        cells = [c for r in run_ids for c in store.cells(r, samples=False)]
    if as_json:
        print(to_json(cells))
    else:
        out.print(rich_table(cells, title=", ".join(run_ids)))


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="json or csv.")] = "json",
    db: DbOption = Path("edgebench.db"),
    run: Annotated[
        list[str] | None, typer.Option("--run", help="Run id(s) \\[default: the latest].")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File \\[default: stdout].")
    ] = None,
    samples: Annotated[bool, typer.Option(help="Include raw latency samples (json).")] = False,
) -> None:
    """Export stored results as JSON or CSV."""
    from edgebench.report.table import to_csv, to_json

    if fmt not in ("json", "csv"):
        raise UsageError(f"--format takes json or csv, not '{fmt}'")
    with _open_store_for_reading(db) as store:
        run_ids = _select_runs(store, run, db)
        cells = [c for r in run_ids for c in store.cells(r, samples=samples)]
    text = to_json(cells, samples=samples) if fmt == "json" else to_csv(cells)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text)
        err.print(f"{len(cells)} records written to {output}")


@app.command("report")
def report_cmd(
    db: DbOption = Path("edgebench.db"),
    run: Annotated[
        list[str] | None, typer.Option("--run", help="Run id(s) \\[default: the latest].")
    ] = None,
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

    with _open_store_for_reading(db) as store:
        run_ids = _select_runs(store, run, db)
    path, written = write_report(db, run_ids, output, fmt, figures)
    err.print(
        f"report written to {path}"
        + (f"; {len(written)} figure files in {figures}" if figures else "")
    )


# `edgebench suite ...` and `edgebench compare` live in cli_suite.py.
from edgebench.cli_suite import compare_cmd, suite_app  # noqa: E402

app.add_typer(suite_app, name="suite")
app.command("compare")(compare_cmd)
# `edgebench explain` lives in cli_explain.py.
from edgebench.cli_explain import explain_cmd  # noqa: E402

app.command("explain")(explain_cmd)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        print(f"edgebench {__version__}")
        raise typer.Exit()


def main() -> None:
    """Entry point: runs the app and turns edgebench errors into one line and an exit code.

    Typer (standalone) already reports usage errors with exit code 2; edgebench's own errors
    pass through it and are printed here as one line, never as a traceback.
    """
    try:
        app()
    except EdgebenchError as exc:
        # Plain print: one line, never wrapped or styled, easy to grep in a CI log.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
