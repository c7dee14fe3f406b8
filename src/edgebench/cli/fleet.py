"""`edgebench fleet ...`: a Dask cluster of workers, one per device, and build workers.

`suite run SUITE --cluster local:N` starts a cluster for the run alone; `fleet up` keeps one
running for several runs (and other hosts' workers to join), and `fleet worker` is a device's
worker, on the board itself or on a lab host that drives it through its target (SSH, adb).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Annotated

import typer

from edgebench.cli.common import TlsOption, err, split, tls_files

fleet_app = typer.Typer(
    no_args_is_help=True,
    help="A fleet of devices on Dask distributed: a local cluster, or a device's worker.",
)


@fleet_app.command("up")
def fleet_up(
    local: Annotated[int, typer.Option("--local", help="Worker processes on this machine.")] = 2,
    targets: Annotated[
        str, typer.Option(help="The devices the workers own, comma separated.")
    ] = "local",
    tls: TlsOption = None,
) -> None:
    """Start a Dask cluster on this machine (bound to 127.0.0.1) and keep it up until Ctrl-C;
    its scheduler's address is what `suite run --cluster` and `fleet worker` take."""
    from edgebench.fleet.cluster import check_dask, dashboard, local_cluster, quiet
    from edgebench.targets.config import check_targets

    check_targets(split(targets))
    check_dask()
    quiet()
    cluster = local_cluster(local, split(targets), tls_files(tls))
    try:
        from distributed import Client

        with Client(cluster, security=cluster.security) as client:
            err.print(f"fleet: scheduler {cluster.scheduler_address}", soft_wrap=True)
            err.print(f"fleet: dashboard {dashboard(client)}", soft_wrap=True)
            err.print(f"fleet: {local} workers owning {targets}; Ctrl-C stops them")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    finally:
        cluster.close()


@fleet_app.command("worker")
def fleet_worker(
    scheduler: Annotated[str, typer.Option(help="The scheduler's address (tcp:// or tls://).")],
    target: Annotated[
        str, typer.Option(help="The devices this worker owns (target names), comma separated.")
    ] = "local",
    build: Annotated[
        bool,
        typer.Option("--build/--no-build", help="Also convert (needs TensorFlow, torch, ...)."),
    ] = True,
    host: Annotated[
        str, typer.Option(help="The address to listen on \\[default: loopback].")
    ] = "127.0.0.1",
    tls: TlsOption = None,
) -> None:
    """Serve a device to a fleet: a Dask worker (with its nanny) that measures on TARGET, one
    cell at a time, and converts when --build."""
    from edgebench.fleet.cluster import check_dask, check_scheduler, quiet, worker_resources
    from edgebench.targets.config import check_targets

    check_targets(split(target))  # 181 lines after 33 s, before: the target was never checked
    check_dask()
    check_scheduler(scheduler)
    quiet()
    from distributed import Nanny

    files = tls_files(tls)
    resources = worker_resources(split(target), build)

    async def serve() -> None:
        async with Nanny(
            scheduler,
            nthreads=1,
            resources=resources,
            host=host,
            security=files.security() if files else None,
            silence_logs=30,
        ) as nanny:
            err.print(f"fleet worker {nanny.worker_address}: {', '.join(resources)}")
            await nanny.finished()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


__all__ = ["fleet_app"]
