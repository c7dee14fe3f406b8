"""The winner of a tune, as something a user can run again: an `edgebench run` line with the
exact settings, and a few lines of the runtime's own Python API on the winning artifact."""

from __future__ import annotations

import shlex

from edgebench.compilers import get_compiler
from edgebench.results import CellResult
from edgebench.settings import GridSettings


def run_line(cell: CellResult, settings: GridSettings) -> str:
    """The `edgebench run` command that measures the same cell again."""
    compiler = get_compiler(cell.compiler)
    args = [
        "edgebench", "run",
        "--model", settings.models[0],
        "--weights", settings.weights,
        "--compiler", cell.compiler,
        "--precision", cell.precision,
        "--threads", str(cell.threads),
        "--batch", str(cell.batch_size),
    ]  # fmt: skip
    defaults = {o.name: o.default for o in compiler.declared_options}
    for key, value in sorted(cell.options.items()):
        if defaults.get(key) != value:
            shown = str(value).lower() if isinstance(value, bool) else value
            args += ["--option", f"{key}={shown}"]
    for flag, value in (
        ("--input-shape", settings.input_shape),
        ("--input-value", settings.input_value),
        ("--input-range", settings.input_range),
        ("--input-mean", settings.input_mean),
        ("--input-std", settings.input_std),
        ("--dataset", settings.dataset),
        ("--calib-dataset", settings.calib_dataset),
    ):
        if value:
            args += [flag, value]
    if cell.target:
        args += ["--target", cell.target_name]
    return shlex.join(args)


def api_snippet(cell: CellResult) -> str:
    """A few lines of the runtime's own API that load the winning artifact as it ran (`x` is
    a batch of inputs as the model takes them); empty when the compiler has none."""
    if not cell.artifact_path:
        return ""
    return get_compiler(cell.compiler).usage(
        cell.artifact_path, cell.precision, cell.threads, cell.options
    )


__all__ = ["api_snippet", "run_line"]
