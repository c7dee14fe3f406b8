"""The Python API: run a grid of cells into a results store, as `edgebench run` does.

    from pathlib import Path
    from edgebench.api import run_grid
    from edgebench.settings import GridSettings

    grid = GridSettings(models=["mobilenet_v2"], compilers=["tflite"], precisions=["fp32", "int8"],
                        weights="random")
    run_id, cells = run_grid(grid, Path("edgebench.db"))

Every finished cell is committed to the store at once; an interrupt keeps them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from edgebench.errors import EdgebenchError
from edgebench.results import CellResult
from edgebench.settings import GridSettings


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `timeout`, CI cancellation and `docker stop` send) or SIGHUP (a closed
    terminal, a dropped SSH session), raised where the program is, so it stops the way Ctrl-C
    does: workers killed, scratch removed, cells kept."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def said(self) -> str:
        return "hung up" if self.signum == signal.SIGHUP else "terminated"


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []  # the stop signals this process got, in order


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Terminated(signum)


def stop_on_sigterm() -> None:
    """SIGTERM and SIGHUP stop the program as Ctrl-C does (see `Terminated`)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_terminated)


def received_signal() -> int | None:
    """The first stop signal this process got, if any."""
    return _received[0] if _received else None


def interrupt_exit_code(cause: BaseException | None) -> int:
    """128 + the signal's number, as a shell reports a process a signal stopped."""
    return 128 + cause.signum if isinstance(cause, Terminated) else 130


class GridInterrupted(EdgebenchError):
    """A run stopped by Ctrl-C, SIGTERM or SIGHUP; `kept` cells are in the store."""

    def __init__(self, run_id: str, kept: int, cause: BaseException | None = None) -> None:
        super().__init__(f"interrupted: {kept} cells kept (run {run_id})")
        self.run_id, self.kept = run_id, kept
        self.exit_code = interrupt_exit_code(cause)


def run_grid(
    settings: GridSettings,
    db: Path,
    *,
    run_id: str | None = None,
    on_cell: Callable[[CellResult], None] = lambda c: None,
    on_progress: Callable[[str], None] = lambda s: None,
    on_total: Callable[[int], None] = lambda n: None,
    on_warning: Callable[[str], None] = lambda w: None,
    on_note: Callable[[str], None] = lambda n: None,
) -> tuple[str, list[CellResult]]:
    """Runs one grid into a new run of the store at `db`; the run id and its cells.

    Raises:
        EdgebenchError: bad input, before any work (one line for a user).
        GridInterrupted: Ctrl-C or SIGTERM; every finished cell is stored. A run stopped
            before its first cell is not kept (it would become the "latest run" with nothing).
    """
    from edgebench import __version__
    from edgebench.harness.prepare import model_notes
    from edgebench.harness.runner import Runner
    from edgebench.store import ResultStore, check_writable, new_run_id
    from edgebench.sysinfo import git_commit, system_info

    check_writable(db)
    run_id = run_id or new_run_id()
    cells: list[CellResult] = []
    with ResultStore(db) as store:

        def keep(cell: CellResult) -> None:
            store.add_cell(cell)
            cells.append(cell)
            on_cell(cell)

        try:
            with Runner(settings, run_id, on_cell=keep, on_progress=on_progress) as runner:
                for warning in runner.warnings():
                    on_warning(warning)
                models = runner.prepare()
                for note in model_notes(models):
                    on_note(note)
                store.add_run(run_id, system_info(), settings.stored(), __version__, git_commit())
                runner.prepare_references(models)
                on_total(runner.cells_total(models))
                runner.run(models)
        except KeyboardInterrupt as exc:
            store.drop_run_if_empty(run_id)
            raise GridInterrupted(run_id, len(cells), exc) from None
        except EdgebenchError:  # bad input found by the references: no empty run is kept
            store.drop_run_if_empty(run_id)
            raise
    return run_id, cells


def run_settings(**values: Any) -> GridSettings:
    """GridSettings from keyword arguments (the names of settings.py), validated."""
    return GridSettings.model_validate(values)


__all__ = [
    "GridInterrupted",
    "Terminated",
    "interrupt_exit_code",
    "received_signal",
    "run_grid",
    "run_settings",
    "stop_on_sigterm",
]
