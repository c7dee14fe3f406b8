"""Dask distributed clusters for a fleet: an embedded local one, or a scheduler's address.

Every worker advertises Dask resources: `device:NAME` (1) for each device it measures on, so a
cell's measurement runs only there and one at a time per device, and `build` (1) where it can
convert (TensorFlow, torch and the converters are installed), so conversions run in parallel on
the build workers. Everything binds to 127.0.0.1 unless an address is given. TLS: give
`--tls-ca-file`, `--tls-cert` and `--tls-key` to the workers and the client alike (Dask's
`Security`); a `tls://` address then encrypts and authenticates every connection.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
from dataclasses import dataclass
from typing import Any

from edgebench.errors import UsageError

BUILD = "build"
LOOPBACK = "127.0.0.1"


def device_resource(target: str) -> str:
    return f"device:{target}"


def check_dask() -> None:
    if importlib.util.find_spec("distributed") is None:
        raise UsageError("fleets need Dask distributed: pip install 'edgebench[fleet]'")


def quiet() -> None:
    """Dask logs every worker's arrival and departure at INFO: keep only warnings (bokeh's
    warning about the dashboard's origin check: the dashboard listens on loopback only)."""
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("bokeh").setLevel(logging.ERROR)


@dataclass(frozen=True)
class TlsFiles:
    ca_file: str
    cert: str
    key: str

    def security(self) -> Any:
        from distributed.security import Security

        return Security(
            tls_ca_file=self.ca_file,
            tls_client_cert=self.cert,
            tls_client_key=self.key,
            tls_scheduler_cert=self.cert,
            tls_scheduler_key=self.key,
            tls_worker_cert=self.cert,
            tls_worker_key=self.key,
            require_encryption=True,
        )


def worker_resources(devices: list[str], build: bool = True) -> dict[str, float]:
    resources = {device_resource(d): 1.0 for d in devices}
    if build:
        resources[BUILD] = 1.0
    return resources


def local_cluster(n_workers: int, devices: list[str], tls: TlsFiles | None = None) -> Any:
    """A cluster of `n_workers` worker processes on this machine, bound to 127.0.0.1. The
    devices are shared out, one worker each in turn (a worker may own several, or none); every
    worker also converts."""
    from distributed import Nanny, Scheduler, SpecCluster

    if n_workers < 1:
        raise UsageError("a local cluster needs at least one worker: --cluster local:N, N >= 1")
    owned: list[list[str]] = [[] for _ in range(n_workers)]
    for i, device in enumerate(devices):
        owned[i % n_workers].append(device)
    security = tls.security() if tls else None
    protocol = "tls://" if tls else "tcp://"
    dashboard = ":0" if importlib.util.find_spec("bokeh") else None
    workers = {
        f"worker-{i}": {
            "cls": Nanny,
            "options": {
                "nthreads": 1,
                "resources": worker_resources(mine),
                "host": LOOPBACK,
                "protocol": protocol,
                "security": security,
                # Worker processes share the user's terminal. At the end of a run, or on
                # SIGTERM, a worker's heartbeat can meet the closing scheduler and log an ERROR
                # with a traceback: not the user's to read. Cells report their own failures.
                "silence_logs": logging.CRITICAL,
                "death_timeout": 30,  # an orphan (its client killed) stops by itself
            },
        }
        for i, mine in enumerate(owned)
    }
    scheduler = {
        "cls": Scheduler,
        "options": {
            "host": LOOPBACK,
            "protocol": protocol,
            "security": security,
            "dashboard_address": f"{LOOPBACK}{dashboard}" if dashboard else None,
        },
    }
    return SpecCluster(scheduler=scheduler, workers=workers, security=security, silence_logs=30)


def connect(address: str, devices: list[str], tls: TlsFiles | None = None) -> tuple[Any, Any]:
    """A client, and the cluster it started (`local:N`) or None (a scheduler's address)."""
    from distributed import Client

    from edgebench.targets.config import check_targets

    check_targets(devices)  # a misspelt device fails here, not after the cluster started
    check_dask()
    quiet()
    cluster = None
    if address.startswith("local"):
        _, _, count = address.partition(":")
        if count and not count.isdigit():
            raise UsageError(f"--cluster {address}: local:N takes a number of workers")
        cluster = local_cluster(int(count or 2), devices, tls)
        target: Any = cluster
    else:
        target = address
    security = tls.security() if tls else None
    try:
        client = Client(target, security=security, timeout=30)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise UsageError(f"--cluster {address}: no scheduler answers ({exc})") from None
    return client, cluster


def check_scheduler(address: str, flag: str = "--scheduler") -> None:
    """A scheduler's address is tcp:// or tls:// with a host and a port, and something
    listens there (one line otherwise, before a worker starts and retries for half a minute).
    """
    from urllib.parse import urlsplit

    from edgebench.errors import EdgebenchError

    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        raise UsageError(f"{flag} {address}: give tcp://HOST:PORT or tls://HOST:PORT")
    try:
        socket.create_connection((parts.hostname, port), timeout=5).close()
    except OSError as exc:
        raise EdgebenchError(
            f"{flag} {address}: no scheduler answers there ({exc.strerror or exc}); start "
            "one with `edgebench fleet up`"
        ) from None


def missing_devices(client: Any, devices: list[str]) -> list[str]:
    """The devices no connected worker owns."""
    info = client.scheduler_info()
    owned = {r for w in info["workers"].values() for r in (w.get("resources") or {})}
    return [d for d in devices if device_resource(d) not in owned]


def dashboard(client: Any) -> str:
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - no dashboard server: say so, do not fail
        link = None
    return str(link) if link else "none (pip install bokeh for Dask's dashboard)"


__all__ = [
    "BUILD",
    "TlsFiles",
    "check_dask",
    "connect",
    "dashboard",
    "device_resource",
    "local_cluster",
    "missing_devices",
    "quiet",
    "worker_resources",
]
