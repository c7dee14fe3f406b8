"""Runs a suite into one run of the store, and resumes a run that stopped midway.

Every grid is validated (names, models, weights, datasets) before the first cell runs. Each
finished cell is committed at once (the Runner hands it to `on_cell`), so a run killed midway
loses nothing: resuming it runs only the cells it holds no completed row for. `ok`,
`unsupported` and `skipped` rows count as completed; `failed` cells run again and their new row
is appended (readers keep the latest row of a cell: `results.latest_cells`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from edgebench.errors import EdgebenchError, UsageError
from edgebench.results import CellResult
from edgebench.store import ResultStore
from edgebench.suites import Suite


def completed_keys(store: ResultStore, run_id: str) -> set[tuple[Any, ...]]:
    """The cells of a run that need not run again (any completed row counts)."""
    return store.completed_keys(run_id)


def check_resumable(store: ResultStore, run_id: str, suite: Suite) -> None:
    """A run can be resumed with the suite it was started with: by name, and by content (a
    suite of the same name whose grids changed would mix two suites' cells in one run)."""
    info = store.run(run_id)  # StoreError (exit 2) for an unknown id
    stored = (info.config or {}).get("suite") or {}
    if stored.get("name") != suite.name:
        was = f"suite '{stored['name']}'" if stored.get("name") else "`edgebench run`"
        raise UsageError(f"run {run_id} was made by {was}, not suite '{suite.name}'")
    if stored.get("sha256") and stored["sha256"] != suite.sha256:
        raise UsageError(
            f"run {run_id} was made by another version of suite '{suite.name}' (its text "
            f"differs: sha256 {stored['sha256'][:12]} then, {suite.sha256[:12]} now); resume "
            "with the suite as it was, or start a new run"
        )


def run_suite(
    suite: Suite,
    db: Path,
    *,
    resume: str | None = None,
    cache_dir: Path | None = None,
    on_cell: Callable[[CellResult], None] = lambda c: None,
    on_progress: Callable[[str], None] = lambda s: None,
    on_total: Callable[[str, int, int], None] = lambda run_id, todo, done: None,
    on_warning: Callable[[str], None] = lambda w: None,
    on_note: Callable[[str], None] = lambda n: None,
    fleet: Any = None,
    on_fleet: Callable[[Any], None] = lambda p: None,
    targets: list[str] | None = None,
) -> str:
    """Runs every grid of `suite` into one run of the store at `db`; returns the run id.

    Args:
        resume: the id of a run of this suite: only its cells without a completed row run.
        on_total: told the run id, how many cells will run and how many were already
            completed, once every grid has been validated.
        fleet: a Dask client: the cells are dispatched over its workers (fleet/dispatch.py)
            instead of running here one by one; `on_fleet` gets its progress.

    Raises:
        GridInterrupted: Ctrl-C or SIGTERM; every finished cell is stored.
    """
    from edgebench.api import GridInterrupted
    from edgebench.store import ResultStore, check_writable, new_run_id

    check_writable(db)
    run_id = resume or new_run_id()
    kept: list[CellResult] = []

    def keep(cell: CellResult) -> None:
        kept.append(cell)
        on_cell(cell)

    with ResultStore(db) as store:
        if resume is not None:
            check_resumable(store, resume, suite)
        with store.run_lock(run_id):  # a second runner of the same run is told it is busy
            try:
                _run_grids(suite, store, run_id, resume is not None, cache_dir, keep,
                           on_progress, on_total, on_warning, on_note, fleet, on_fleet,
                           targets)  # fmt: skip
            except KeyboardInterrupt as exc:
                if resume is None:
                    store.drop_run_if_empty(run_id)
                raise GridInterrupted(run_id, len(kept), exc) from None
            except EdgebenchError:  # bad input found by the references: no empty run is kept
                if resume is None:
                    store.drop_run_if_empty(run_id)
                raise
    return run_id


def _run_grids(
    suite: Suite,
    store: ResultStore,
    run_id: str,
    resume: bool,
    cache_dir: Path | None,
    on_cell: Callable[[CellResult], None],
    on_progress: Callable[[str], None],
    on_total: Callable[[str, int, int], None],
    on_warning: Callable[[str], None],
    on_note: Callable[[str], None],
    fleet: Any,
    on_fleet: Callable[[Any], None],
    targets: list[str] | None,
) -> None:
    from edgebench import __version__
    from edgebench.harness.prepare import model_notes
    from edgebench.harness.runner import Runner
    from edgebench.sysinfo import git_commit, system_info

    done = store.completed_keys(run_id) if resume else set()
    grids = suite.grids(cache_dir, targets)

    def store_cell(cell: CellResult) -> None:
        store.add_cell(cell)
        on_cell(cell)

    with ExitStack() as stack:
        runners = [
            stack.enter_context(Runner(grid, run_id, store_cell, on_progress, completed=done))
            for grid in grids
        ]
        on_progress("checking models and weights")
        for runner in runners:
            for warning in runner.warnings():
                on_warning(warning)
        prepared = [runner.prepare() for runner in runners]  # bad input fails before any cell
        for note in dict.fromkeys(n for models in prepared for n in model_notes(models)):
            on_note(note)
        todo = sum(r.cells_total(m) for r, m in zip(runners, prepared, strict=True))
        if not resume:
            config = {
                "suite": suite.describe(),
                "notes": suite.notes,
                "grids": [grid.stored() for grid in grids],
            }
            store.add_run(run_id, system_info(), config, __version__, git_commit())
        on_total(run_id, todo, len(done))
        for runner, models in zip(runners, prepared, strict=True):
            if runner.cells_total(models):
                runner.prepare_references(models)
                if fleet is None:
                    runner.run(models)
        if fleet is not None:
            from edgebench.fleet.dispatch import run_on_fleet

            run_on_fleet(fleet, runners, store_cell, on_fleet)
