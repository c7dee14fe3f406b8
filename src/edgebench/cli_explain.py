"""`edgebench explain`: measure cells, then explain what each compiler did to the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgebench.cli import (
    BatchesOption,
    CacheDirOption,
    CalibDatasetOption,
    CalibSizeOption,
    CellTimeoutOption,
    CompilersOption,
    DbOption,
    InputShapeOption,
    ModelsOption,
    PrecisionsOption,
    ThreadsOption,
    XnnpackOption,
    _ints,
    _options,
    _print_summary,
    _run_grid,
    _split,
    err,
    out,
)
from edgebench.errors import UsageError


def explain_cmd(
    model: ModelsOption,
    compiler: CompilersOption = None,
    precision: PrecisionsOption = "fp32",
    batch: BatchesOption = "1",
    threads: ThreadsOption = None,
    weights: Annotated[
        str,
        typer.Option(
            help="random (graphs and op times do not depend on weights), pretrained, or a file."
        ),
    ] = "random",
    ablate: Annotated[
        bool,
        typer.Option(
            "--ablate",
            help="Measure each cell again with each optimization switched off or stepped "
            "down (XNNPACK, graph optimization levels, OpenVINO hint and precision, "
            "TVM tuning, inductor freezing) and report what each accounts for.",
        ),
    ] = False,
    runs: Annotated[int, typer.Option(help="Profiled runs per cell.")] = 20,
    db: DbOption = Path("edgebench.db"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result records (with `explain`) as JSON.")
    ] = False,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="A compiler option KEY=VALUE, repeatable."),
    ] = None,
    xnnpack: XnnpackOption = True,
    warmup: Annotated[int, typer.Option(help="Untimed runs before timed ones.")] = 5,
    min_runs: Annotated[int, typer.Option(help="Timed runs of the measurement, at least.")] = 20,
    min_duration: Annotated[
        float, typer.Option(help="Seconds of timed runs of the measurement, at least.")
    ] = 1.0,
    cell_timeout: CellTimeoutOption = 900.0,
    input_shape: InputShapeOption = None,
    calib_size: CalibSizeOption = 100,
    calib_dataset: CalibDatasetOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Explain what each compiler did: op counts before and after, fusions, where each op ran
    (delegated or fallback), and where the time goes, from each compiler's own profiler.

    Each cell is measured as by `run` and stored with its explanation.
    """
    from edgebench.cache import default_cache_dir
    from edgebench.explain.render import rich_explanation
    from edgebench.harness.runner import RunConfig, available_compilers
    from edgebench.harness.timing import StopRule
    from edgebench.report.table import to_json

    compilers = _split(compiler) if compiler else available_compilers()
    if not compilers:
        raise UsageError("no compiler is available here; see `edgebench list compilers`")
    if runs < 1:
        raise UsageError("--runs must be at least 1")
    try:
        stop_rule = StopRule(warmup_runs=warmup, min_runs=min_runs, min_duration_s=min_duration)
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
        calib_dataset=calib_dataset,
        explain=True,
        explain_runs=runs,
        ablate=ablate,
    )
    if threads is not None:
        config.threads = threads
    run_id, cells = _run_grid(config, db)
    if as_json:
        print(to_json(cells))
    else:
        for cell in cells:
            out.print(rich_explanation(cell), highlight=False)
            out.print()
    _print_summary(run_id, cells, db)
    if not any(c.explain and "error" not in c.explain for c in cells):
        err.print("nothing could be explained (see the lines above)")
        raise typer.Exit(1)
