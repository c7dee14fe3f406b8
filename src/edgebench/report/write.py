"""Writes a report from the store: HTML (figures and sortable tables), Markdown or CSV, and
optionally every figure as SVG (and PNG, with matplotlib) for papers."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from edgebench.errors import UsageError
from edgebench.results import distinct_models, latest_cells
from edgebench.store import ResultStore

FORMATS = ("html", "md", "csv")


def write_report(
    db: Path,
    run_ids: list[str],
    output: Path | None,
    fmt: str = "html",
    figures_dir: Path | None = None,
) -> tuple[Path, list[Path]]:
    """Writes the report of `run_ids` and returns its path and the figure files written."""
    from edgebench.report.figures import all_figures, write_figure_files

    if fmt not in FORMATS:
        raise UsageError(f"--format takes {', '.join(FORMATS)}, not '{fmt}'")
    with ResultStore(db, read_only=True) as store:
        runs = [store.run(r) for r in run_ids]
        cells = distinct_models(
            latest_cells(c for r in run_ids for c in store.cells(r, samples=False))
        )
    if not cells:
        raise UsageError(f"{db}: run {', '.join(run_ids)} holds no results to report")
    output = output or Path(f"edgebench-report.{fmt}")
    if not output.resolve().parent.is_dir():
        raise UsageError(f"-o {output}: folder {output.resolve().parent} does not exist")
    written: list[Path] = []
    by_model: dict[str, list[Path]] = defaultdict(list)
    if figures_dir is not None:
        for model, path in write_figure_files(all_figures(cells), figures_dir):
            written.append(path)
            by_model[model or "hosts"].append(_relative(path, output))
    if fmt == "html":
        from edgebench.report.html import render

        text = render(runs, cells)
    elif fmt == "md":
        from edgebench.report.markdown import render_markdown

        text = render_markdown(runs, cells, dict(by_model))
    else:
        from edgebench.report.table import to_csv

        text = to_csv(cells)
    output.write_text(text)
    return output, written


def _relative(path: Path, output: Path) -> Path:
    try:
        return path.resolve().relative_to(output.resolve().parent)
    except ValueError:
        return path.resolve()
