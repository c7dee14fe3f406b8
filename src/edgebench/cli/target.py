"""`edgebench target ...`: the devices cells are measured on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgebench.cli.common import err, new_progress, out, split
from edgebench.errors import UsageError

target_app = typer.Typer(
    no_args_is_help=True,
    help="Devices to measure on: add, list, check, set up (SSH, adb).",
)
NameArgument = Annotated[str, typer.Argument(help="A target's name (or a URL, where allowed).")]


@target_app.command("add")
def target_add(
    name: Annotated[str, typer.Argument(help="The name to call it by.")],
    url: Annotated[str, typer.Argument(help="ssh://[user@]host[:port] or adb://SERIAL.")],
    python: Annotated[
        str | None, typer.Option(help="The Python to run there \\[default: its venv, python3].")
    ] = None,
    workdir: Annotated[
        str | None, typer.Option(help="Its working folder \\[default: ~/.cache/edgebench-agent].")
    ] = None,
    key: Annotated[
        Path | None, typer.Option(help="An SSH private key file \\[default: agent, ~/.ssh].")
    ] = None,
) -> None:
    """Add (or replace) a named target. Only its address and paths are kept, never a secret."""
    from edgebench.targets.config import add_target, targets_file

    if key is not None and not key.expanduser().is_file():
        raise UsageError(f"--key {key}: no such file")
    # kept absolute: a relative key would be looked for wherever edgebench runs next
    key_path = str(key.expanduser().resolve()) if key else None
    add_target(name, url, python=python, workdir=workdir, key=key_path)
    err.print(f"target {name}: {url} (in {targets_file()})", soft_wrap=True)


@target_app.command("list")
def target_list() -> None:
    """The named targets."""
    from rich.table import Table

    from edgebench.targets.config import load_targets, targets_file

    t = Table(title=str(targets_file()))
    for col in ("name", "url", "python", "workdir", "key"):
        t.add_column(col)
    t.add_row("local", "this host", "-", "-", "-")
    for name, entry in sorted(load_targets().items()):
        t.add_row(name, *(escape(entry.get(k, "-")) for k in ("url", "python", "workdir", "key")))
    out.print(t)


@target_app.command("remove")
def target_remove(name: NameArgument) -> None:
    """Forget a named target."""
    from edgebench.targets.config import remove_target

    remove_target(name)
    err.print(f"target {name} removed")


def _device_lines(info: Any) -> list[str]:
    d = info.device
    cpu = d.get("cpu", {})
    arch = d.get("arch", "?") + (
        f" (emulated: the kernel is {d.get('kernel_arch')})" if d.get("emulated") else ""
    )
    runtimes = ", ".join(f"{k} {v}" for k, v in d.get("runtimes", {}).items()) or "none"
    meters = "; ".join(f"{m}: {s}" for m, s in d.get("meters", [])) or "none"
    return [
        f"address     {info.address}",
        f"reachable   yes ({d.get('hostname')})",
        f"arch        {arch}",
        f"CPU         {cpu.get('model')}, {cpu.get('usable_cores')} usable cores",
        f"memory      {d.get('memory_mb')} MB; free disk {d.get('free_disk_mb')} MB",
        f"OS          {d.get('os')} ({d.get('libc') or 'libc ?'})",
        f"Python      {d.get('python')} ({d.get('python_path')})",
        f"runtimes    {runtimes}",
        f"meters      {meters}",
        f"copies      {info.copy_via or '-'}",
    ]


@target_app.command("check")
def target_check(name: NameArgument) -> None:
    """Reach a target and show what it has: architecture, OS, Python, runtimes, power meters."""
    from edgebench.targets import open_target

    target = open_target(name)
    try:
        info = target.info()
    finally:
        target.close()
    out.print(f"[bold]target {escape(name)}[/] ({info.kind})")
    for line in _device_lines(info):
        out.print(escape(line), soft_wrap=True)


@target_app.command("setup")
def target_setup(
    name: NameArgument,
    runtime: Annotated[
        str, typer.Option(help="Compilers whose runtimes to install there, comma separated.")
    ] = "tflite",
    cache_dir: Annotated[
        Path | None, typer.Option(help="Where the wheels are kept \\[default: the cache].")
    ] = None,
) -> None:
    """Install the agent's Python there: a venv with numpy and the runtimes, from wheels this
    host downloads for the device (the device needs no internet)."""
    from edgebench.cache import check_cache_dir, default_cache_dir
    from edgebench.targets import open_target
    from edgebench.targets.base import RemoteTarget
    from edgebench.targets.setup import setup_target

    cache = check_cache_dir(cache_dir or default_cache_dir(), given=cache_dir is not None)
    target = open_target(name)
    if not isinstance(target, RemoteTarget):
        raise UsageError("local is this host: `make install` sets it up")
    progress = new_progress(err)
    with progress:
        task = progress.add_task("connecting", total=None)
        try:
            report = setup_target(
                target,
                split(runtime),
                cache,
                lambda s: progress.update(task, description=s),
            )
        finally:
            target.close()
    runtimes = ", ".join(f"{k} {v}" for k, v in report.runtimes.items())
    err.print(
        f"target {name}: {report.python} has {runtimes}; copied {report.wheels_mb} MB of "
        f"wheels, installed {report.installed_mb} MB, in {report.seconds:.0f} s",
        soft_wrap=True,
    )


__all__ = ["target_app"]
