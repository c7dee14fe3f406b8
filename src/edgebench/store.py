"""The results store: SQLite through the standard library.

Every cell is written in its own transaction as soon as it is measured, so a run killed midway
keeps every completed cell. The schema is versioned in `meta`; opening a store written by a newer
edgebench is refused rather than misread.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.errors import StoreError
from edgebench.results import CellResult

SCHEMA_VERSION = 1
# SQLite's header field for "which program's file is this" (`PRAGMA application_id`): "EbNc".
# A file that carries another program's id, or a user_version of its own, is never written.
APPLICATION_ID = 0x45624E63

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    edgebench_version TEXT NOT NULL,
    git_commit TEXT,
    system_json TEXT NOT NULL,
    config_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    created_at REAL NOT NULL,
    model TEXT NOT NULL,
    weights TEXT NOT NULL,
    compiler TEXT NOT NULL,
    precision TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    threads INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    p50_ms REAL,
    mean_ms REAL,
    throughput_ips REAL,
    model_size_mb REAL,
    record_json TEXT NOT NULL,
    samples_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cells_run ON cells(run_id);
"""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    created_at: float
    edgebench_version: str
    git_commit: str | None
    system: dict[str, Any]
    config: dict[str, Any]
    n_cells: int = 0


def _holder_alive(host: str, pid: int) -> bool:
    """Whether a lock's holder still runs; one on another host is assumed to."""
    from edgebench.sysinfo import pid_alive

    return host != socket.gethostname() or pid_alive(pid)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def check_writable(path: Path) -> None:
    """Fails before any work starts when the store cannot be created or written."""
    folder = path.expanduser().resolve().parent
    if not folder.is_dir():
        raise StoreError(f"--db {path}: folder {folder} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"--db {path}: file is not writable")
    if not path.exists() and not os.access(folder, os.W_OK):
        raise StoreError(f"--db {path}: folder {folder} is not writable")
    with ResultStore(path):
        pass


class ResultStore:
    """A results store file. Use as a context manager.

    `read_only` opens it with SQLite's read-only mode: nothing is created or written, so a
    store on read-only media can be read, and a file that is not a store is left untouched.
    """

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        try:
            if read_only:
                self.conn = self._connect_read_only()
            else:
                self.conn = sqlite3.connect(str(self.path), timeout=30)
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._init_schema()
            if not read_only:  # only once the file is known to be a store
                self.conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable edgebench store ({exc})") from exc

    def _connect_read_only(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30)
            conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.OperationalError:
            # On read-only media SQLite cannot make the WAL's shared-memory file: read the
            # file as it is, as immutable.
            return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=30)

    def _init_schema(self) -> None:
        """Checks that the file is an edgebench store this version can read, and creates the
        schema in a new, empty file; another program's database is never written to."""
        tables = {
            r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id not in (0, APPLICATION_ID):
            raise StoreError(
                f"{self.path}: another program's database (SQLite application_id "
                f"{app_id:#x}), not an edgebench store"
            )
        if not tables:
            user_version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if self.read_only:
                raise StoreError(f"{self.path}: an empty file, not an edgebench store")
            if user_version:
                raise StoreError(
                    f"{self.path}: another program's empty database (SQLite user_version "
                    f"{user_version}), not an edgebench store"
                )
            # One transaction: a reader, or a writer killed half-way, sees the whole store or
            # an empty file, never tables without their version. Idempotent, for two runs that
            # create the same store at once.
            self.conn.executescript(
                f"BEGIN IMMEDIATE;\n{_SCHEMA}\n"
                f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');\n"
                f"PRAGMA application_id = {APPLICATION_ID};\nCOMMIT;"
            )
            return
        if not {"meta", "runs", "cells"} <= tables:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(f"{self.path}: not an edgebench store (its tables: {shown})")
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        try:
            version = int(row[0]) if row is not None else None
        except (TypeError, ValueError):
            version = None
        if version is None:
            found = "no schema version" if row is None else f"schema version {row[0]!r}"
            raise StoreError(f"{self.path}: {found}: not an edgebench store this can read")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this edgebench "
                f"understands ({SCHEMA_VERSION}); upgrade edgebench"
            )

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            with self.conn:
                yield self.conn
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: write failed ({exc})") from exc

    def add_run(
        self,
        run_id: str,
        system: dict[str, Any],
        config: dict[str, Any],
        version: str,
        git_commit: str | None,
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, time.time(), version, git_commit, json.dumps(system), json.dumps(config)),
            )

    def update_run_config(self, run_id: str, key: str, value: Any) -> None:
        """Sets one top-level entry of a run's stored config (what a run learns as it goes,
        e.g. a tune's side-by-side timings)."""
        with self._tx() as c:
            row = c.execute("SELECT config_json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: no run with id '{run_id}'")
            config = json.loads(row[0]) | {key: value}
            c.execute(
                "UPDATE runs SET config_json = ? WHERE run_id = ?", (json.dumps(config), run_id)
            )

    def add_cell(self, cell: CellResult) -> None:
        record = cell.to_dict(samples=False)
        lat = cell.latency_ms
        with self._tx() as c:
            c.execute(
                "INSERT INTO cells (run_id, created_at, model, weights, compiler, precision,"
                " batch_size, threads, status, error, p50_ms, mean_ms, throughput_ips,"
                " model_size_mb, record_json, samples_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cell.run_id,
                    time.time(),
                    cell.model,
                    cell.weights,
                    cell.compiler,
                    cell.precision,
                    cell.batch_size,
                    cell.threads,
                    cell.status,
                    cell.error,
                    lat.p50 if lat else None,
                    lat.mean if lat else None,
                    cell.throughput_ips,
                    cell.model_size_mb,
                    json.dumps(record, default=str),
                    json.dumps(cell.latency_samples_ms),
                ),
            )

    @contextmanager
    def run_lock(self, run_id: str) -> Iterator[None]:
        """Holds run `run_id` for this process while it adds cells to it: a second process
        that tries (two `--resume` of one run) is refused with one line. A lock left by a
        process that is gone (kill -9) is taken over."""
        me = (socket.gethostname(), os.getpid())
        try:
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS run_locks (run_id TEXT PRIMARY KEY,"
                    " host TEXT NOT NULL, pid INTEGER NOT NULL, since REAL NOT NULL)"
                )
                row = self.conn.execute(
                    "SELECT host, pid, since FROM run_locks WHERE run_id = ?", (run_id,)
                ).fetchone()
                if row is not None and (row[0], row[1]) != me and _holder_alive(row[0], row[1]):
                    since = time.strftime("%H:%M:%S", time.localtime(row[2]))
                    raise StoreError(
                        f"run {run_id} is busy: process {row[1]} on {row[0]} has been adding "
                        f"cells to it since {since}; wait for it or stop it"
                    )
                self.conn.execute(
                    "INSERT OR REPLACE INTO run_locks VALUES (?, ?, ?, ?)",
                    (run_id, *me, time.time()),
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot lock run {run_id} ({exc})") from exc
        try:
            yield
        finally:
            with self._tx() as c:
                c.execute("DELETE FROM run_locks WHERE run_id = ? AND pid = ?", (run_id, me[1]))

    def drop_run_if_empty(self, run_id: str) -> None:
        """Forgets a run that holds no cell (stopped before its first one)."""
        with self._tx() as c:
            c.execute(
                "DELETE FROM runs WHERE run_id = ? AND NOT EXISTS"
                " (SELECT 1 FROM cells WHERE cells.run_id = runs.run_id)",
                (run_id,),
            )

    def completed_keys(self, run_id: str) -> set[tuple[Any, ...]]:
        """The resume keys of a run's cells that need not run again."""
        from edgebench.results import COMPLETED_STATUSES

        return {
            c.resume_key()
            for c in self.cells(run_id, samples=False)
            if c.status in COMPLETED_STATUSES
        }

    def runs(self) -> list[RunInfo]:
        rows = self.conn.execute(
            "SELECT r.run_id, r.created_at, r.edgebench_version, r.git_commit, r.system_json,"
            " r.config_json, COUNT(c.id) FROM runs r LEFT JOIN cells c ON c.run_id = r.run_id"
            " GROUP BY r.run_id ORDER BY r.created_at"
        ).fetchall()
        return [
            RunInfo(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6]) for r in rows
        ]

    def run(self, run_id: str) -> RunInfo:
        for info in self.runs():
            if info.run_id == run_id:
                return info
        raise StoreError(f"{self.path}: no run with id '{run_id}'")

    def latest_run_id(self) -> str | None:
        row = self.conn.execute(
            "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def cells(self, run_id: str | None = None, samples: bool = True) -> list[CellResult]:
        query = "SELECT record_json, samples_json FROM cells"
        args: tuple[Any, ...] = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            args = (run_id,)
        out = []
        rows = self.conn.execute(query.replace("SELECT ", "SELECT id, ", 1) + " ORDER BY id", args)
        for row_id, record_json, samples_json in rows:
            try:
                cell = CellResult.from_dict(json.loads(record_json))
                if samples:
                    cell.latency_samples_ms = list(json.loads(samples_json))
            except (json.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
                raise StoreError(
                    f"{self.path}: cell row {row_id} holds no readable record ({exc})"
                ) from None
            out.append(cell)
        return out
