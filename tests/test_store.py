from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgebench.errors import StoreError
from edgebench.results import CellResult
from edgebench.store import SCHEMA_VERSION, ResultStore, check_writable


def _cell(run_id: str, batch: int, samples: list[float]) -> CellResult:
    cell = CellResult(run_id, "m", "random", "null", "fp32", batch, 2, "ok", system={"h": 1})
    cell.with_samples(samples, batch, window_s=sum(samples) / 1000)
    return cell


def test_round_trip_keeps_every_field_and_sample(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.add_run("run1", {"cpu": "x"}, {"models": ["m"]}, "0.1.0", "abc")
        original = _cell("run1", 4, [1.0, 2.0, 3.0, 4.0, 10.0])
        original.warnings.append("noisy")
        store.add_cell(original)
        failed = CellResult("run1", "m", "random", "abort", "fp32", 1, 2, "failed", error="boom")
        store.add_cell(failed)
    with ResultStore(db) as store:
        cells = store.cells("run1")
        runs = store.runs()
    assert [c.to_dict() for c in cells] == [original.to_dict(), failed.to_dict()]
    assert cells[0].latency_samples_ms == [1.0, 2.0, 3.0, 4.0, 10.0]
    assert cells[0].throughput_ips == pytest.approx(4 * 5 / 0.02)
    assert runs[0].run_id == "run1" and runs[0].n_cells == 2 and runs[0].git_commit == "abc"


def test_a_killed_writer_loses_no_committed_cell(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    script = textwrap.dedent(
        f"""
        import sys
        from edgebench.results import CellResult
        from edgebench.store import ResultStore
        store = ResultStore({str(db)!r})
        store.add_run("r", {{}}, {{}}, "0", None)
        i = 0
        while True:
            c = CellResult("r", "m", "random", "null", "fp32", i + 1, 1, "ok")
            c.with_samples([1.0] * 50, 1, 0.05)
            store.add_cell(c)
            print(i + 1, flush=True)
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed = 0
    for line in proc.stdout:
        committed = int(line)
        if committed >= 25:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    with ResultStore(db) as store:
        batches = [c.batch_size for c in store.cells("r")]
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Every cell reported as committed is there, in order, with nothing half-written (the
    # writer may have committed a few more before the kill reached it: those are whole too).
    assert len(batches) >= committed
    assert batches == list(range(1, len(batches) + 1))


def test_a_writer_killed_while_it_creates_the_store_leaves_a_file_the_next_run_can_use(
    tmp_path: Path,
) -> None:
    """A clean-clone `make test` failed `test_resume_after_a_killed_run...` with "no schema
    version: not an edgebench store": the schema was committed before its version row, and a
    store opened between the two (or a writer killed there) was unusable for good. Here the
    writer is killed (SIGKILL) just as it starts to write the version row."""
    db = tmp_path / "r.db"
    script = textwrap.dedent(
        f"""
        import os, signal, sqlite3
        from edgebench import store

        real_connect = sqlite3.connect

        def connect(*args, **kwargs):
            conn = real_connect(*args, **kwargs)
            def trace(sql):
                if "INSERT" in sql and "schema_version" in sql:
                    os.kill(os.getpid(), signal.SIGKILL)
            conn.set_trace_callback(trace)
            return conn

        sqlite3.connect = connect
        store.ResultStore({str(db)!r})
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr  # it was killed where intended
    with ResultStore(db) as store:  # the next run opens it and it is a whole store
        store.add_run("r", {}, {}, "0", "x")
        assert store.conn.execute(
            "SELECT value FROM meta WHERE key='schema_version'"
        ).fetchone() == (str(SCHEMA_VERSION),)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    ResultStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        ResultStore(db)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="bad.db"):
        ResultStore(bad)


def test_unwritable_paths_fail_before_work(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        check_writable(tmp_path / "missing" / "r.db")
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(StoreError, match="not writable"):
            check_writable(ro / "r.db")


def test_unknown_run_id(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.db") as store, pytest.raises(StoreError, match="no run"):
        store.run("nope")


def test_record_json_has_the_interface_fields(tmp_path: Path) -> None:
    golden = json.loads((Path(__file__).parent / "golden" / "record_fields.json").read_text())
    record = _cell("r", 1, [1.0, 2.0]).to_dict()
    assert sorted(record) == sorted(golden["record"])
    assert sorted(record["latency_ms"]) == sorted(golden["latency_ms"])


def _plant_v1_store(db: Path) -> dict:
    """A store holding one run and one cell exactly as edgebench 0.1.0 (schema 1) wrote them."""
    golden = json.loads((Path(__file__).parent / "golden" / "stored_record_v1.json").read_text())
    run, cell = golden["run"], golden["cell"]
    with ResultStore(db):
        pass  # creates the schema-1 tables
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
            (
                run["run_id"],
                run["created_at"],
                run["edgebench_version"],
                run["git_commit"],
                json.dumps(run["system_json"]),
                json.dumps(run["config_json"]),
            ),
        )
        columns = [k for k in cell if k != "id"]
        values = [
            json.dumps(cell[k]) if k in ("record_json", "samples_json") else cell[k]
            for k in columns
        ]
        conn.execute(
            f"INSERT INTO cells ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            values,
        )
    conn.close()
    return golden


def test_a_stored_record_of_schema_1_round_trips_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    golden = _plant_v1_store(db)
    with ResultStore(db) as store:
        (cell,) = store.cells()
        record, stored = cell.to_dict(samples=False), golden["cell"]["record_json"]
        # Every stored field reads back unchanged; fields added since (the target) are empty,
        # and the accelerator is the CPU every cell of that schema ran on.
        assert {k: v for k, v in record.items() if k in stored} == stored
        added = record.keys() - stored.keys()
        assert added == {"target", "fleet", "io_ms", "tune", "model_digest", "accelerator",
                         "accelerator_info", "model_size_gzip_mb", "error_detail",
                         "preprocessing", "window_drift_pct", "host_speed",
                         "busy_windows"}  # fmt: skip
        assert record.pop("accelerator") == "cpu"
        assert all(record[k] is None for k in added - {"accelerator"})
        assert cell.latency_samples_ms == golden["cell"]["samples_json"]
        assert store.run(golden["run"]["run_id"]).config == golden["run"]["config_json"]
        # Written again by this edgebench, it reads back the same.
        store.add_cell(cell)
        again = store.cells()[-1]
    assert again.to_dict() == cell.to_dict()
