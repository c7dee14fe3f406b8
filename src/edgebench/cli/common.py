"""What every `edgebench` command shares: the consoles, progress and cell lines, opening the
store, and the options of `run` and `explain`, made from the settings' own declarations.

Light at import (typer and rich only); every command module imports this one, and the package
(`cli/__init__.py`) imports the command modules: nothing imports back up.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from edgebench.errors import UsageError, redact

# A flag takes no value, so its help shows none (typer shows `<bool>` for every flag).
_display_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = (  # type: ignore[method-assign]
    lambda self, ctx: None if self.is_flag else _display_type(self, ctx)
)


# Piped output (make bench, CI logs) gets a wide table instead of rich's 80-column default.
def _piped_width() -> int | None:
    """A terminal's own width; piped output: COLUMNS when set, else 160 (CI logs)."""
    return None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 160)


out = Console(width=_piped_width())
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

DbOption = Annotated[Path, typer.Option("--db", help="Results store (SQLite file).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result records as JSON.")]
RunsOption = Annotated[
    list[str] | None, typer.Option("--run", help="Run id(s) \\[default: the latest].")
]


TlsOption = Annotated[
    str | None,
    typer.Option(
        "--tls",
        help="Dask TLS for remote workers: CA,CERT,KEY files (the same for workers and client).",
    ),
]


@contextlib.contextmanager
def fleet_client(
    cluster: str | None, suite: Any, targets: list[str] | None, tls: str | None
) -> Iterator[Any]:
    """A Dask client for `--cluster` (None without one), closed with the cluster it started;
    its scheduler and dashboard are printed."""
    if cluster is None:
        yield None
        return
    from edgebench.fleet.cluster import connect, dashboard

    devices = targets or list(dict.fromkeys(t for g in suite.grids() for t in g.targets))
    files = tls_files(tls)
    client, started = connect(cluster, devices, files)
    try:
        err.print(
            f"fleet: scheduler {client.scheduler.address}, dashboard {dashboard(client)}",
            soft_wrap=True,
        )
        yield client
    finally:
        client.close()
        if started is not None:
            started.close()


def tls_files(text: str | None) -> Any:
    """`--tls CA,CERT,KEY` as the fleet's TLS files (each must exist)."""
    if text is None:
        return None
    from edgebench.fleet.cluster import TlsFiles

    parts = split(text)
    if len(parts) != 3:
        raise UsageError(f"--tls takes CA,CERT,KEY (three files), not '{text}'")
    for part in parts:
        if not Path(part).expanduser().is_file():
            raise UsageError(f"--tls: {part}: no such file")
    return TlsFiles(*parts)


def split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def ints(text: str, flag: str) -> list[int]:
    try:
        return [int(p) for p in split(text)]
    except ValueError:
        raise UsageError(f"{flag} takes whole numbers separated by commas, not '{text}'") from None


def key_values(pairs: list[str], flag: str = "--option") -> dict[str, str]:
    """`KEY=VALUE` pairs; each value stays text, for its compiler option to read."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} takes KEY=VALUE, not '{pair}'")
        key, text = key.strip(), text.strip()
        if options.get(key, text) != text:
            raise UsageError(
                f"{flag} {key} is given twice, as {options[key]!r} and {text!r}: give it once"
            )
        options[key] = text
    return options


# --- progress and cell lines -----------------------------------------------------------------
# Without a terminal (make bench > log, CI) a stage that lasts says so at least this often.
HEARTBEAT_S = 30.0


class LogProgress:
    """Progress for a log: rich draws its spinner only on a terminal, so redirected output
    said nothing for minutes (6.5 of them before `make bench`'s first cell). Here each new
    stage ("converting ...", "measuring ...") is a line, and a stage that lasts gets a line
    every `heartbeat_s` saying how long it has taken. The calls are those of rich's Progress
    that edgebench makes."""

    def __init__(
        self,
        console: Console,
        heartbeat_s: float = HEARTBEAT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console, self.heartbeat_s, self.clock = console, heartbeat_s, clock
        self._tasks: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._said_at = clock()

    def __enter__(self) -> LogProgress:
        self._thread = threading.Thread(target=self._beat, name="edgebench-log-progress",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        """A task; its first stage (checking the input) is said only if it lasts, so that
        bad input still ends in one line."""
        with self._lock:
            task = len(self._tasks)
            self._tasks[task] = {
                "description": description, "total": total, "completed": 0,
                "since": self.clock(),
            }  # fmt: skip
        return task

    def update(
        self,
        task: int,
        description: str | None = None,
        total: float | None = None,
        advance: float | None = None,
        **_: Any,
    ) -> None:
        with self._lock:
            state = self._tasks[task]
            if total is not None:
                state["total"] = total
            if advance:
                state["completed"] += advance
            if description is None or description == state["description"]:
                return
            state["description"], state["since"] = description, self.clock()
            line = self._line(state)
        self._say(line)

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def _line(self, state: dict[str, Any], still: bool = False) -> str:
        done = f"[{state['completed']:g}/{state['total']:g}] " if state["total"] else ""
        took = f" ({self.clock() - state['since']:.0f} s so far)" if still else ""
        return f"{done}{state['description']}{took}"

    def _say(self, line: str) -> None:
        self._said_at = self.clock()
        self.console.print(escape(line), soft_wrap=True, highlight=False)

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.heartbeat_s / 4)):
            if self.clock() - self._said_at < self.heartbeat_s:
                continue
            with self._lock:
                lines = [self._line(s, still=True) for s in self._tasks.values() if "since" in s]
            for line in lines[-1:]:
                self._say(line)
            if not lines:
                self._said_at = self.clock()


def new_progress(console: Console) -> Any:
    """The spinner line `run` and `suite run` show while cells convert and measure; without a
    terminal, a line per stage and one at least every HEARTBEAT_S (LogProgress)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not console.is_terminal:
        return LogProgress(console)
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


# Warnings worth a line in the terminal as each cell finishes (all are kept in the record).
_SHOWN_WARNINGS = (
    "noisy",
    "drifting:",
    "fidelity:",
    "software device",
    "int8 calibrated on random inputs",
    "no power figures: none (command",
    "cache entry",
)


def print_cell(console: Console, cell: Any, label: str | None = None) -> None:
    """One line per finished cell (`label` names it where model, compiler, precision and
    batch do not), and the warnings a reader must not miss."""
    mark = {"ok": "[green]ok[/]", "failed": "[red]failed[/]"}.get(
        cell.status, f"[yellow]{cell.status}[/]"
    )
    p50 = f" p50 {cell.latency_ms.p50:.2f} ms" if cell.latency_ms else ""
    where = (
        ""
        if not cell.target
        else f" on {cell.target_name}" + (" (emulated)" if cell.emulated else "")
    )
    on = "" if cell.accelerator == "cpu" else f" {cell.accelerator}"
    on += " (software)" if cell.software_device else ""
    name = label or f"{cell.model} {cell.compiler}{on} {cell.precision} b{cell.batch_size}"
    console.print(
        f"{mark} {escape(name)}{escape(where)}{p50}"
        + escape(f": {redact(cell.error)}" if cell.error else ""),
        soft_wrap=True,
    )
    for warning in cell.warnings:
        if warning.startswith(_SHOWN_WARNINGS):
            console.print(f"  [yellow]warning:[/] {escape(redact(warning))}", soft_wrap=True)


# The exit code of a run that measured nothing: cells ran, and none is ok (each failed, or
# failed or was skipped), so that scripts and CI notice; the cells are stored all the same.
NOTHING_MEASURED = 3


def print_summary(run_id: str, cells: list[Any], db: Path, extra: str = "") -> None:
    from edgebench.results import STATUSES

    counts = {s: sum(c.status == s for c in cells) for s in STATUSES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing left to run"
    err.print(f"run {run_id}: {summary}{extra}; stored in {db}", soft_wrap=True)


def exit_if_nothing_measured(cells: list[Any]) -> None:
    """Ends a run whose cells all failed (or failed and were skipped) with NOTHING_MEASURED,
    after everything else it writes."""
    if any(c.status == "failed" for c in cells) and not any(c.status == "ok" for c in cells):
        err.print(f"no cell was measured: exit {NOTHING_MEASURED}")
        raise typer.Exit(NOTHING_MEASURED)


# --- the store, for reading ----------------------------------------------------------------
def open_store_for_reading(db: Path) -> Any:
    from edgebench.store import ResultStore

    if not db.exists():
        raise UsageError(f"{db}: no results store here (run `edgebench run` first, or pass --db)")
    return ResultStore(db, read_only=True)


def select_runs(store: Any, run: list[str] | None, db: Path) -> list[str]:
    if run:
        return [store.run(r).run_id for r in run]
    latest = store.latest_run_id()
    if latest is None:
        raise UsageError(f"{db}: the store holds no runs")
    return [latest]


def check_output_file(path: Path | None, flag: str) -> None:
    """Refuses, before any work, an output path that cannot be written as a file."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file name")
    folder = path.expanduser().resolve().parent
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: folder {folder} does not exist")
    # os.access says no for a read-only file system too, even to root
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: the file is not writable")
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: folder {folder} is not writable")


def check_output_folder(path: Path | None, flag: str) -> None:
    """Refuses, before any work, an output folder that is a file or cannot be written."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: is a file; give a folder")
    existing = next(p for p in (path.expanduser().resolve(), *path.resolve().parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {existing} is not writable")


# --- the options of `run` and `explain`, from the settings' declarations ---------------------
def _cli_type(annotation: Any) -> tuple[Any, str]:
    """The type typer parses for a setting, and how its text becomes the setting's value."""
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if origin is not list and len(args) == 1 and get_origin(args[0]) is list:
        annotation, origin = args[0], list  # an optional list: `--accelerator cpu,gpu`
    if origin is list:
        inner = get_args(annotation)[0]
        return str, "ints" if get_args(inner)[:1] == (int,) or inner is int else "names"
    if origin is dict:
        return list[str] | None, "pairs"
    if annotation is bool:
        return bool, "plain"
    if args and get_origin(annotation) is not None:  # X | None, Literal[...] | None
        base = args[0]
        if get_origin(base) is not None:  # a Literal: typed as its text
            base = str
        return base | None, "plain"
    return annotation | None, "plain"


def grid_parameters(
    command: str, defaults: dict[tuple[str, ...], Any] | None = None
) -> list[inspect.Parameter]:
    """One keyword parameter per setting offered by `command`, for typer to turn into an
    option: flag, help and default all come from settings.py. `defaults` overrides a few
    (explain measures random weights by default)."""
    from edgebench.settings import leaf_fields

    params = []
    for path, field in leaf_fields():
        extra: dict[str, Any] = field.json_schema_extra or {}
        if not extra.get("flag") or command not in extra["commands"]:
            continue
        kind, _ = _cli_type(field.annotation)
        names = [extra["flag"]] + ([extra["short"]] if extra.get("short") else [])
        if kind is bool and extra.get("negatable"):
            names = [f"{extra['flag']}/--no-{extra['flag'][2:]}"]
        if (defaults or {}).get(path) is not None:
            default = defaults[path]  # type: ignore[index]
        elif extra.get("cli_default") is not None:
            default = None  # filled in by settings_from_cli
        elif field.is_required():
            default = inspect.Parameter.empty
        elif field.default_factory is not None:
            default = None
        else:
            default = field.default
        if isinstance(default, list):
            default = ",".join(str(v) for v in default)
        if isinstance(default, dict):
            default = None
        option = typer.Option(
            *names,
            help=field.description,
            show_default=default is not None,
            metavar="KEY=VALUE" if kind == list[str] | None else None,
        )
        params.append(
            inspect.Parameter(
                "__".join(path),
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[kind, option],
                default=default,
            )
        )
    return params


def settings_from_cli(values: dict[str, Any], fixed: dict[str, Any] | None = None) -> Any:
    """The GridSettings of a command line: the given options (`values`, by parameter name)
    over the settings' defaults, plus what the command itself fixes. A bad value is one line
    that names its flag."""
    from pydantic import ValidationError

    from edgebench.settings import GridSettings, leaf_fields

    data: dict[str, Any] = {}
    for path, field in leaf_fields():
        extra: dict[str, Any] = field.json_schema_extra or {}
        value = values.get("__".join(path))
        if value is None and extra.get("cli_default") is not None and "__".join(path) in values:
            value = extra["cli_default"]()
        if value is None:
            continue
        flag = extra.get("flag")
        _, how = _cli_type(field.annotation)
        if how == "names" and isinstance(value, str):
            value = split(value)
        elif how == "ints":
            value = ints(value, str(flag))
        elif how == "pairs":
            value = key_values(value)
        target = data
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    data.update(fixed or {})
    try:
        return GridSettings.model_validate(data)
    except ValidationError as exc:
        raise UsageError(cli_error(exc)) from None


def cli_error(exc: Any) -> str:
    """A settings validation error as one line that names the flag it concerns."""
    from edgebench.settings import flag_of, leaf_fields

    first = exc.errors(include_url=False)[0]
    path = tuple(p for p in first["loc"] if isinstance(p, str))
    msg = str(first["msg"]).removeprefix("Value error, ")
    if path == ("options",):
        return msg
    known = {p for p, _ in leaf_fields()}
    while path and path not in known:
        path = path[:-1]
    flag = flag_of(path) if path else None
    return f"{flag}: {msg}" if flag else msg


def grid_command(
    command: str,
    body: Callable[..., None],
    own: list[inspect.Parameter],
    defaults: dict[tuple[str, ...], Any] | None = None,
    fixed: dict[str, Any] | None = None,
) -> Callable[..., None]:
    """A typer command whose options are the grid's settings (from settings.py) and `own`;
    it calls `body(settings, **own_values)`."""
    params = grid_parameters(command, defaults) + own
    own_names = {p.name for p in own}

    def callback(**kwargs: Any) -> None:
        mine = {k: kwargs.pop(k) for k in list(kwargs) if k in own_names}
        body(settings_from_cli(kwargs, fixed), **mine)

    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in params}
    callback.__doc__ = body.__doc__
    callback.__name__ = command
    return callback


def own_option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    """A command's own option (not a grid setting), as a parameter for `grid_command`."""
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


__all__ = [
    "DbOption",
    "JsonOption",
    "TlsOption",
    "RunsOption",
    "check_output_file",
    "check_output_folder",
    "err",
    "exit_if_nothing_measured",
    "fleet_client",
    "grid_command",
    "ints",
    "key_values",
    "new_progress",
    "open_store_for_reading",
    "out",
    "own_option",
    "print_cell",
    "print_summary",
    "select_runs",
    "settings_from_cli",
    "split",
    "tls_files",
]
