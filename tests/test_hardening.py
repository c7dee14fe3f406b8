"""Hostile input and faults: no code runs from a weights file, no silent wrong result, no
traceback, nothing left behind. Each test is one of the faults found by trying edgebench as a
hostile user would (numbered as in the hardening issue)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from edgebench.errors import ModelLoadError, StoreError
from edgebench.store import ResultStore


def _error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


# --- 1. no code runs from a --weights file ---------------------------------------------------
class _Plant:
    """Unpickling this runs `touch MARKER`: what a hostile checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def _evil_checkpoint(path: Path, marker: Path, where: int) -> Path:
    """A legacy-format checkpoint whose `where`-th pickle (0: the magic number) plants."""
    parts: list[object] = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {}, []]
    parts[where] = _Plant(marker)
    with open(path, "wb") as f:
        for part in parts:
            pickle.dump(part, f)
    return path


@pytest.mark.parametrize("where", [0, 1, 2, 3])
def test_1_a_checkpoint_cannot_run_code_when_read(tmp_path: Path, where: int) -> None:
    from edgebench.models.torch_checkpoint import load_state_dict

    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(tmp_path / "evil.pth", marker, where)
    with pytest.raises(ModelLoadError):
        load_state_dict(evil)
    assert not marker.exists()


def test_1_run_refuses_a_planted_weights_file_before_any_work(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(tmp_path / "evil.pth", marker, 0)
    r = run_cli(
        "run", "--model", "mobilenet_v2.tv_in1k", "--compiler", "null", "--weights", str(evil),
        "--db", str(tmp_path / "r.db"), cwd=tmp_path, env=cli_env(tmp_path / "cache"),
    )  # fmt: skip
    assert r.returncode == 2
    assert "not allowed" in _error_line(r) and str(evil) in _error_line(r)
    assert not marker.exists()


# --- 2. the Markdown report escapes what it quotes -------------------------------------------
def test_2_markdown_report_escapes_error_messages() -> None:
    from edgebench.report.markdown import render_markdown
    from edgebench.results import CellResult
    from edgebench.store import RunInfo

    cell = CellResult(
        "r", "m", "random", "tflite", "fp32", 1, 2, "failed",
        error="</script><script>alert(1)</script> <img src=x onerror=alert(2)>",
    )  # fmt: skip
    text = render_markdown([RunInfo("r", 0.0, "0.1.0", None, {}, {})], [cell], {})
    assert "<script>" not in text and "<img" not in text
    assert "&lt;/script&gt;&lt;script&gt;" in text


# --- 3 and 9. a damaged cache entry is rebuilt, never measured --------------------------------
def test_3_a_damaged_artifact_is_a_cache_miss(tmp_path: Path) -> None:
    from edgebench.cache import ArtifactCache

    cache = ArtifactCache(tmp_path)
    scratch = cache.begin("tflite", "k1")
    (scratch / "model.tflite").write_bytes(os.urandom(400_000))
    entry = cache.commit("tflite", "k1", scratch, "model.tflite", {"seconds": 1.0})
    assert cache.lookup("tflite", "k1") is not None
    with open(entry.path, "r+b") as f:  # 200 KB overwritten in place: same size
        f.seek(100_000)
        f.write(os.urandom(200_000))
    assert cache.lookup("tflite", "k1") is None
    assert any("damaged" in w and "k1" in w for w in cache.warnings)
    assert not entry.folder.exists()  # removed, so the next build replaces it


def test_9_a_truncated_meta_or_artifact_is_a_cache_miss(tmp_path: Path) -> None:
    from edgebench.cache import ArtifactCache

    cache = ArtifactCache(tmp_path)
    for key in ("meta", "artifact"):
        scratch = cache.begin("onnx", key)
        (scratch / "model.onnx").write_bytes(b"x" * 1000)
        cache.commit("onnx", key, scratch, "model.onnx", {})
    meta = cache.folder("onnx", "meta") / "meta.json"
    meta.write_text(meta.read_text()[:10])
    (cache.folder("onnx", "artifact") / "model.onnx").write_bytes(b"x" * 10)
    assert cache.lookup("onnx", "meta") is None and cache.lookup("onnx", "artifact") is None
    assert len(cache.warnings) == 2


def test_two_builders_of_one_entry_keep_the_first_and_never_break_a_reader(tmp_path: Path) -> None:
    """Two runs on one cache (a fleet's workers on one host, parallel tests) may build the same
    entry at once; the second to finish keeps the first one's files, which a measurement may
    already be reading, instead of deleting them under it."""
    from edgebench.cache import ArtifactCache

    first, second = ArtifactCache(tmp_path), ArtifactCache(tmp_path)
    a = first.begin("onnx", "k")
    (a / "model.onnx").write_bytes(b"a" * 1000)
    entry = first.commit("onnx", "k", a, "model.onnx", {})
    with open(entry.path, "rb") as reader:  # the first build is in use ...
        b = second.begin("onnx", "k")  # ... when the second, which started before, ends
        (b / "model.onnx").write_bytes(b"b" * 1000)
        kept = second.commit("onnx", "k", b, "model.onnx", {})
        assert kept.path == entry.path and kept.path.read_bytes() == b"a" * 1000
        assert reader.read() == b"a" * 1000
    assert not b.exists() and first.lookup("onnx", "k") is not None


# --- 5. a model folder replaced in place is a new model -----------------------------------------
def test_5_user_models_are_keyed_by_their_contents(tmp_path: Path) -> None:
    from edgebench.conversion.routes import source_key
    from edgebench.models import resolve_model
    from edgebench.models.weights import ResolvedWeights

    folder = tmp_path / "saved"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph-one")
    (folder / "variables" / "variables.data").write_bytes(b"weights-1")
    weights = ResolvedWeights("file:saved", None)
    before = source_key(resolve_model(str(folder)), weights)
    stat = (folder / "variables" / "variables.data").stat()
    (folder / "variables" / "variables.data").write_bytes(b"weights-2")  # same size
    os.utime(folder / "variables" / "variables.data", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.utime(folder, ns=(folder.stat().st_atime_ns, folder.stat().st_mtime_ns))
    assert source_key(resolve_model(str(folder)), weights) != before


# --- 8. SIGTERM and kill -9 leave nothing behind --------------------------------------------------
def _default_sigint() -> None:
    # A shell's background job (`make test &`) starts with SIGINT ignored, and a process that
    # inherits the ignore never sees Ctrl-C: the CLI is started as from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgebench", *args],
        cwd=tmp_path,
        env=cli_env(tmp_path / "cache", plugins=True, TMPDIR=str(tmp_path / "tmp")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def _workers(scratch: Path) -> list[int]:
    """Worker processes whose command line names ``scratch`` (other runs on the host differ)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"edgebench.harness.worker" in cmd and any(bytes(scratch) in arg for arg in cmd):
            found.append(int(proc.name))
    return found


def _wait_for(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


HANG = ("run", "--model", "mobilenet_v2_035_96", "--compiler", "null,hang", "--weights", "random",
        "--min-duration", "0", "--no-fidelity", "--db", "r.db")  # fmt: skip


def test_8_sigterm_stops_like_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    proc = _start(tmp_path, *HANG)
    assert _wait_for(lambda: _workers(tmp_path) and (tmp_path / "r.db").exists())
    assert _wait_for(lambda: _stored(tmp_path / "r.db") == 1)  # the null cell is in
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert "interrupted: 1 cells kept in r.db" in stderr and "Traceback" not in stderr
    assert _wait_for(lambda: not _workers(tmp_path), 5)
    assert list((tmp_path / "tmp").iterdir()) == []  # the scratch folder is gone


def _stored(db: Path) -> int:
    try:
        with ResultStore(db, read_only=True) as store:
            return len(store.cells())
    except StoreError:
        return 0


def test_8_kill_9_takes_the_worker_along_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    proc = _start(tmp_path, *HANG)
    assert _wait_for(lambda: _stored(tmp_path / "r.db") == 1)
    assert _wait_for(lambda: bool(_workers(tmp_path)))
    proc.kill()  # SIGKILL to the main process only
    proc.wait()
    t = time.monotonic()
    assert _wait_for(lambda: not _workers(tmp_path), 5)
    assert time.monotonic() - t < 1.5  # within about a second
    stale = list((tmp_path / "tmp").iterdir())
    assert stale  # kill -9 cannot clean up ...
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights", "random",
        "--min-duration", "0", "--no-fidelity", "--db", "r.db", cwd=tmp_path,
        env=cli_env(tmp_path / "cache", TMPDIR=str(tmp_path / "tmp")),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # ... the next run does


# --- 10. one run, one writer ---------------------------------------------------------------------
def test_10_two_resumes_of_one_run_do_not_both_measure(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [null, hang]\n"
        "    weights: random\n    fidelity: false\n    stop_rule: {min_duration_s: 0}\n"
    )
    first = _start(tmp_path, "suite", "run", str(suite), "--db", "r.db")
    assert _wait_for(lambda: _stored(tmp_path / "r.db") == 1)
    with ResultStore(tmp_path / "r.db", read_only=True) as store:
        run_id = store.latest_run_id()
    assert run_id is not None
    r = run_cli(
        "suite", "run", str(suite), "--db", "r.db", "--resume", run_id, cwd=tmp_path,
        env=cli_env(tmp_path / "cache", plugins=True),
    )  # fmt: skip
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=30)
    assert r.returncode == 2
    assert f"run {run_id} is busy" in _error_line(r)
    assert _stored(tmp_path / "r.db") == 1


# --- 11. an interrupt before the first cell stores no run ------------------------------------
def test_11_ctrl_c_before_the_first_cell_stores_no_run(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    proc = _start(tmp_path, "run", "--model", "mobilenet_v2_035_96", "--compiler", "hang",
                  "--weights", "random", "--no-fidelity", "--db", "r.db")  # fmt: skip
    assert _wait_for(lambda: bool(_workers(tmp_path)))
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "nothing was measured; no run stored" in stderr
    with ResultStore(tmp_path / "r.db", read_only=True) as store:
        assert store.runs() == []


# --- 12. stores that are not what they seem ------------------------------------------------------
def test_12_a_store_with_a_bad_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultStore(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value='abc' WHERE key='schema_version'")
    r = run_cli("results", "--db", str(db), cwd=tmp_path)
    assert r.returncode == 2 and "schema version 'abc'" in _error_line(r)


def test_12_another_programs_database_is_never_written(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    before = db.read_bytes()
    for args in (("results",), ("report", "-o", str(tmp_path / "x.html")), ("export",)):
        r = run_cli(*args, "--db", str(db), cwd=tmp_path)
        assert r.returncode == 2 and "not an edgebench store" in _error_line(r)
    r = run_cli("run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights",
                "random", "--db", str(db), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "not an edgebench store" in _error_line(r)
    assert db.read_bytes() == before
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"photos"}


@pytest.mark.parametrize("record", ["not json {", "{}"])
def test_12_an_unreadable_record_is_one_line(tmp_path: Path, record: str) -> None:
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.add_run("run1", {}, {}, "0.1.0", None)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO cells (run_id, created_at, model, weights, compiler, precision,"
            " batch_size, threads, status, record_json, samples_json)"
            " VALUES ('run1', 0, 'm', 'random', 'null', 'fp32', 1, 1, 'ok', ?, '[]')",
            (record,),
        )
    for args in (("results",), ("export",), ("report", "-o", str(tmp_path / "x.html"))):
        r = run_cli(*args, "--db", str(db), cwd=tmp_path)
        assert r.returncode == 2 and "cell row 1 holds no readable record" in _error_line(r)


# --- 13. output paths are checked before any work --------------------------------------------
def _tiny_store(tmp_path: Path) -> Path:
    from test_report import make_store

    make_store(tmp_path / "r.db")
    return tmp_path / "r.db"


def test_13_bad_output_paths(tmp_path: Path) -> None:
    db = _tiny_store(tmp_path)
    (tmp_path / "afile").write_text("x")
    cases = [
        (("export", "-o", str(tmp_path / "missing" / "x.json")), "does not exist"),
        (("report", "-o", str(tmp_path / "missing" / "x.html")), "does not exist"),
        (("report", "-o", str(tmp_path)), "is a folder"),
        (("report", "-o", str(tmp_path / "x.html"), "--figures", str(tmp_path / "afile")),
         "is a file"),
    ]  # fmt: skip
    for args, needle in cases:
        r = run_cli(*args, "--db", str(db), cwd=tmp_path)
        assert r.returncode == 2 and needle in _error_line(r), args
    for report in (tmp_path / "missing" / "x.html", tmp_path):
        r = run_cli(
            "run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights",
            "random", "--db", str(tmp_path / "new.db"), "--report", str(report), cwd=tmp_path,
            env=cli_env(tmp_path / "cache"),
        )  # fmt: skip
        assert r.returncode == 2 and "--report" in _error_line(r)
        assert not (tmp_path / "new.db").exists()  # refused before the run started


# --- 14. a store on read-only media can be read ----------------------------------------------
def test_14_a_store_on_read_only_media(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    folder = tmp_path / "media"
    folder.mkdir()
    _tiny_store(folder)
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        for args in (("results",), ("report", "-o", str(tmp_path / "r.html"))):
            r = run_cli(*args, "--db", str(folder / "r.db"), cwd=tmp_path)
            assert r.returncode == 0, r.stderr
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# --- 15. refused up front ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--cell-timeout", "0"), "--cell-timeout: Input should be greater than 0"),
        (("--cell-timeout", "-5"), "--cell-timeout: Input should be greater than 0"),
        (("--model", ","), "--model: names no model"),
        (("--dataset", "synthetic:0"), "synthetic:N takes a count of at least 1"),
    ],
)
def test_15_refused_up_front(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    base = ["--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights", "random"]
    if args[0] == "--model":
        base = base[2:]
    r = run_cli("run", *base, *args, "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 2 and needle in _error_line(r)
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize(
    ("extra", "line", "needle"),
    [
        ("    weights: radnom\n", 6, "grids[0].weights: unknown weights 'radnom'"),
        ("    dataset: folder:/no/such/folder\n", 6, "does not exist"),
    ],
)
def test_15_suite_check_refuses_what_suite_run_would(
    tmp_path: Path, extra: str, line: int, needle: str
) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [null]\n"
        "    precisions: [fp32]\n" + extra
    )
    for command in (("check",), ("run", "--db", "r.db")):
        r = run_cli("suite", *command[:1], str(suite), *command[1:], cwd=tmp_path)
        assert r.returncode == 2
        assert _error_line(r).startswith(f"error: {suite}:{line}: ") and needle in _error_line(r)


# --- 16. a zoo name wins over a same-named folder ----------------------------------------------
def test_16_a_zoo_name_is_not_shadowed_by_a_folder(tmp_path: Path) -> None:
    (tmp_path / "mobilenet_v2_035_96").mkdir()
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights", "random",
        "--min-duration", "0", "--no-fidelity", "--json", "--db", "r.db", cwd=tmp_path,
        env=cli_env(tmp_path / "c"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["status"] == "ok"
    assert "./mobilenet_v2_035_96" in r.stderr  # says how to mean the folder
    r = run_cli("run", "--model", "./mobilenet_v2_035_96", "--compiler", "null", cwd=tmp_path)
    assert r.returncode == 2 and "not a SavedModel" in _error_line(r)


# --- 17. warnings a user must see --------------------------------------------------------------
def test_17_threads_and_duplicate_batches_warn(tmp_path: Path) -> None:
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights", "random",
        "--min-duration", "0", "--no-fidelity", "--threads", "64", "--batch", "1,1", "--json",
        "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "c"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "warning: --threads 64 is more than the" in r.stderr
    assert "warning: batch size 1 given twice: measured once" in r.stderr
    assert len(json.loads(r.stdout)) == 1


def test_17_a_worker_killed_for_memory_says_so_alone(tmp_path: Path) -> None:
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--compiler", "killed", "--weights", "random",
        "--no-fidelity", "--json", "--db", "r.db", cwd=tmp_path,
        env=cli_env(tmp_path / "c", plugins=True),
    )  # fmt: skip
    (cell,) = json.loads(r.stdout)
    assert cell["status"] == "failed"
    assert cell["error"] == "worker killed by SIGKILL (out of memory?)"


def test_17_a_failing_power_command_is_shown_in_the_terminal(tmp_path: Path) -> None:
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights", "random",
        "--min-duration", "0.3", "--no-fidelity", "--power-cmd", "false", "--db", "r.db",
        cwd=tmp_path, env=cli_env(tmp_path / "c"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "warning: no power figures: none (command(false)" in r.stderr


def test_stale_scratch_of_dead_runs_only(tmp_path: Path) -> None:
    from edgebench.harness.process import remove_stale_scratch

    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f"edgebench-{dead.pid}-abc").mkdir()
    (tmp_path / f"edgebench-{os.getpid()}-abc").mkdir()
    (tmp_path / "edgebench-notapid").mkdir()
    removed = remove_stale_scratch(tmp_path)
    assert [p.name for p in removed] == [f"edgebench-{dead.pid}-abc"]
    shutil.rmtree(tmp_path / f"edgebench-{os.getpid()}-abc")


# --- 4. fidelity that can fail ---------------------------------------------------------------
def test_4_a_flat_reference_gives_no_fidelity_figure() -> None:
    import numpy as np

    from edgebench.accuracy.metrics import fidelity

    flat = [np.full((8, 1000), 0.001, dtype=np.float32)]  # Keras's random MobileNetV2
    broken = [np.random.default_rng(0).random((8, 1000), dtype=np.float32)]
    result = fidelity(broken, flat, "classification")
    assert "top1_agreement" not in result and "do not vary with the input" in result["error"]


# --- 6. --input-shape never contradicts a static size -------------------------------------------
@pytest.mark.onnxruntime
def test_6_input_shape_that_contradicts_a_static_size_is_refused(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "static",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])],
        [w],
    )
    path = tmp_path / "static.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    r = run_cli("run", "--model", str(path), "--compiler", "onnxruntime", "--input-shape",
                "3,8,8", "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "c"))  # fmt: skip
    assert r.returncode == 2
    assert "--input-shape 3x8x8 contradicts input 'x' of static, which is 3x16x16" in (
        _error_line(r)
    )
    r = run_cli("run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights",
                "random", "--input-shape", "100,100,3", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "contradicts input 'input' of mobilenet_v2_035_96" in (
        _error_line(r)
    )
    # A misspelt input name was taken as the first input's shape, silently.
    r = run_cli("run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights",
                "random", "--input-shape", "imput=96,96,3", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and (
        "--input-shape names 'imput': mobilenet_v2_035_96 has no such input (its inputs: input)"
        in _error_line(r)
    )
    # Of two inputs, only the dynamic one needs a shape by name: `frames=16,40` was refused
    # with '--input-shape gives 1 shapes; two has 2 inputs', though edgebench suggests it.
    inputs = [helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["N", "T", 40]),
              helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["N", 1, 40])]  # fmt: skip
    graph = helper.make_graph(
        [helper.make_node("Add", ["frames", "bias"], ["y"])], "two", inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "T", 40])],
    )  # fmt: skip
    two = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(two))
    run = ("run", "--model", str(two), "--compiler", "onnxruntime", "--min-duration", "0.05",
           "--no-fidelity", "--json", "--db", "r.db")  # fmt: skip
    r = run_cli(*run, cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 2 and _error_line(r).endswith(
        "input 'frames' has a dynamic shape (?x40); give its per-sample shape with "
        "--input-shape, e.g. --input-shape frames=16,40"
    )
    r = run_cli(*run, "--input-shape", "frames=16,40", cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 0, r.stderr[-2000:]
    (cell,) = json.loads(r.stdout)
    assert cell["status"] == "ok" and cell["outputs"][0]["shape"] == [1, 16, 40], cell
    r = run_cli(*run, "--input-shape", "bias=1,40", cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 2 and _error_line(r) == (
        "error: --input-shape gives no shape for input 'frames' of two, which is ?x40 per "
        "sample; give it too, e.g. frames=16,40"
    )
    # One name twice: its second shape was read as the other input's ('8x40 contradicts
    # input 'bias''), and the first was dropped.
    twice = "frames=16,40;frames=8,40"
    r = run_cli(*run, "--input-shape", twice, cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 2
    assert _error_line(r) == "error: --input-shape names 'frames' more than once"
