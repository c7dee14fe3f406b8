"""What a fleet costs and what it gains, on this machine.

1. Scheduling overhead per cell: the same suite of `null` cells (each one timed run, no
   warm-up) run by the plain local loop and dispatched over a Dask cluster of one worker that
   is already up; the difference in wall time, per cell. Target: under 50 ms.
2. A suite's wall time on 1 worker against 2 (`--suite quick` for `make bench`'s), each from a
   cold artifact cache unless `--warm`: conversions run in parallel on the build workers,
   measurements one at a time per device.

    .venv/bin/python benchmarks/fleet_overhead.py --cells 40 --suite quick
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def _suite_file(folder: Path, cells: int) -> Path:
    batches = ", ".join(str(b) for b in range(1, cells + 1))
    path = folder / "null.yaml"
    path.write_text(
        "name: null-cells\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [null]\n"
        f"    weights: random\n    fidelity: false\n    batch_sizes: [{batches}]\n"
        "    stop_rule: {warmup_runs: 0, min_runs: 1, min_duration_s: 0}\n"
    )
    return path


def _timed(suite: object, db: Path, client: object | None) -> float:
    from edgebench.suites.execute import run_suite

    started = time.perf_counter()
    run_suite(suite, db, fleet=client)  # type: ignore[arg-type]
    return time.perf_counter() - started


def overhead(cells: int, folder: Path) -> None:
    from edgebench.fleet.cluster import connect
    from edgebench.suites import load_suite

    suite = load_suite(str(_suite_file(folder, cells)))
    local = _timed(suite, folder / "local.db", None)
    client, cluster = connect("local:1", ["local"])
    try:
        _timed(suite, folder / "warmup.db", client)  # the workers import edgebench once
        fleet = _timed(suite, folder / "fleet.db", client)
    finally:
        client.close()
        cluster.close()
    per_cell = (fleet - local) / cells * 1000
    flag = "" if per_cell < 50 else "  (over the 50 ms target)"
    print(f"{cells} null cells: local loop {local:.1f} s, Dask (1 worker, up) {fleet:.1f} s")
    print(f"scheduling overhead per cell: {per_cell:.1f} ms{flag}")


def wall_times(name: str, folder: Path, warm: bool) -> None:
    from edgebench.fleet.cluster import connect
    from edgebench.suites import load_suite

    suite = load_suite(name)
    for workers in (1, 2):
        cache = folder / f"cache-{workers}"
        if not warm:
            shutil.rmtree(cache, ignore_errors=True)
            os.environ["EDGEBENCH_CACHE"] = str(cache)
        started = time.perf_counter()
        client, cluster = connect(f"local:{workers}", ["local"])
        try:
            from edgebench.suites.execute import run_suite

            run_suite(suite, folder / f"suite-{workers}.db", fleet=client, cache_dir=cache)
        finally:
            client.close()
            cluster.close()
        print(
            f"suite {name} on {workers} worker(s), {'warm' if warm else 'cold'} cache: "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--suite", default=None, help="also time this suite on 1 and 2 workers")
    parser.add_argument("--warm", action="store_true", help="reuse the artifact cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        overhead(args.cells, Path(tmp))
        if args.suite:
            wall_times(args.suite, Path(tmp), args.warm)


if __name__ == "__main__":
    main()
