"""The `edgebench` command line. Imports no framework: that happens in worker processes.

One module per group of commands, all on `cli/common.py`:

- measure.py: `run`, `explain` (their grid options come from settings.py);
- tune.py: `tune` (the fastest way to run one model, within an accuracy budget);
- suite.py: `suite list|check|run`;
- results.py: `results`, `export`, `report`, `compare`;
- system.py: `list`, `sysinfo`, `compiler show`, `tools install`;
- target.py: `target add|list|remove|check|setup` (devices to measure on);
- fleet.py: `fleet up|worker` (a Dask cluster: `suite run --cluster`);
- corpus.py: `corpus list|fetch` (the real-model corpus).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from edgebench import __version__
from edgebench.cli import (
    corpus,
    fleet,
    inspect_model,
    measure,
    results,
    suite,
    system,
    target,
    tune,
)
from edgebench.cli.common import err
from edgebench.errors import EdgebenchError, redact

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark deep-learning inference compilers on this host: speed, size, memory.",
)
app.command("list")(system.list_cmd)
app.command("sysinfo")(system.sysinfo)
app.add_typer(system.compiler_app, name="compiler")
app.add_typer(system.tools_app, name="tools")
app.command("run")(measure.run_cmd)
app.command("explain")(measure.explain_cmd)
app.command("inspect")(inspect_model.inspect_cmd)
app.command("tune")(tune.tune_cmd)
app.add_typer(suite.suite_app, name="suite")
app.add_typer(target.target_app, name="target")
app.add_typer(fleet.fleet_app, name="fleet")
app.add_typer(corpus.corpus_app, name="corpus")
app.command("results")(results.results)
app.command("export")(results.export)
app.command("report")(results.report)
app.command("compare")(results.compare)


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
    pass through it and are printed here as one line, never as a traceback. SIGTERM stops a
    run the way Ctrl-C does (api.stop_on_sigterm).
    """
    from edgebench.api import Terminated, interrupt_exit_code, received_signal, stop_on_sigterm

    stop_on_sigterm()
    try:
        app()
    except EdgebenchError as exc:
        # Plain print: one line, never wrapped or styled, easy to grep in a CI log.
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a full disk, a read-only file system found only while writing
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        err.print(exc.said if isinstance(exc, Terminated) else "interrupted")
        sys.exit(interrupt_exit_code(exc))
    except SystemExit as exc:
        # Typer ends a command that a KeyboardInterrupt reached with exit 130 and no word: a
        # SIGTERM or SIGHUP to `suite check` or `target check` read as Ctrl-C, silently.
        signum = received_signal()
        if exc.code == 130:
            stop = Terminated(signum) if signum is not None else None
            err.print(stop.said if stop is not None else "interrupted")
            sys.exit(interrupt_exit_code(stop))
        raise
