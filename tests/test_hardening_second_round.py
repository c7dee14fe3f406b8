"""Hostile input and faults, second round: each test is one case of the hardening issue's
second round (numbered as there), and failed on the code before its fix."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_env, run_cli

NULL_RUN = ("run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights", "random",
            "--min-duration", "0", "--no-fidelity")  # fmt: skip


def _error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr[-3000:]
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr[-3000:]
    return errors[0]


# --- 2. untrusted YAML is bounded ------------------------------------------------------------
def _alias_bomb(depth: int = 9, fan: int = 10, mapping: bool = False) -> str:
    """12 lines that stand for fan**depth values when their aliases are expanded."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, depth):
        if mapping:
            body = ", ".join(f"k{j}: *a{i - 1}" for j in range(fan))
            lines.append(f"a{i}: &a{i} {{{body}}}")
        else:
            lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("mapping", [False, True])
def test_2_an_alias_bomb_in_a_suite_is_refused_at_once(tmp_path: Path, mapping: bool) -> None:
    suite = tmp_path / "bomb.yaml"
    suite.write_text(
        "name: bomb\n" + _alias_bomb(mapping=mapping) + "grids:\n  - models: [mobilenet_v2]\n"
    )
    started = time.monotonic()
    r = run_cli("suite", "check", str(suite), cwd=tmp_path, timeout=60)
    assert time.monotonic() - started < 20
    assert r.returncode == 2 and "aliases (*name) expand to more than" in _error_line(r)


def test_2_an_alias_bomb_in_targets_yaml_is_refused_at_once(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "targets.yaml").write_text(_alias_bomb())
    r = run_cli("target", "list", cwd=tmp_path, env=cli_env(EDGEBENCH_CONFIG=str(config)),
                timeout=60)  # fmt: skip
    assert r.returncode == 2 and "aliases (*name) expand to more than" in _error_line(r)


def test_2_the_built_in_suites_keep_their_aliases() -> None:
    from edgebench.suites import load_suite

    assert load_suite("quick").n_cells() > 0


# --- 3. a suite file does not run programs silently ------------------------------------------
def test_3_a_power_command_with_shell_syntax_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [null]\n"
        '    weights: random\n    power_cmd: "touch X; echo 1.0"\n'
    )
    for command in (("check",), ("run", "--db", "r.db")):
        r = run_cli("suite", *command[:1], str(suite), *command[1:], cwd=tmp_path)
        assert r.returncode == 2
        line = _error_line(r)
        assert line.startswith(f"error: {suite}:6: grids[0].power_cmd: ") and "shell" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # nothing was touched
    r = run_cli(*NULL_RUN, "--power-cmd", "touch X && echo 1", "--db", "r.db", cwd=tmp_path)
    assert r.returncode == 2 and "--power-cmd: " in _error_line(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_3_suite_check_and_the_run_show_the_program_a_suite_runs(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [null]\n"
        '    weights: random\n    fidelity: false\n    power_cmd: "echo 2.5"\n'
        "    stop_rule: {min_duration_s: 0.1, min_runs: 2}\n"
    )
    shown = "runs the program 'echo 2.5' (no shell) 10 times a second"
    r = run_cli("suite", "check", str(suite), cwd=tmp_path)
    assert r.returncode == 0 and shown in r.stderr, r.stderr
    r = run_cli("suite", "run", str(suite), "--db", "r.db", cwd=tmp_path,
                env=cli_env(tmp_path / "c"))  # fmt: skip
    assert r.returncode == 0 and shown in r.stderr, r.stderr
    assert r.stderr.index(shown) < r.stderr.index("ok mobilenet_v2_035_96")


# --- 4. no secret in any message -------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["ssh:/pi:hunter2@127.0.0.1", "ssh:pi:hunter2@127.0.0.1", "sssh://pi:hunter2@127.0.0.1",
     "ssh://pi:hunter2@127.0.0.1"],
)  # fmt: skip
def test_4_a_password_in_a_url_is_never_echoed(tmp_path: Path, url: str) -> None:
    env = cli_env(EDGEBENCH_CONFIG=str(tmp_path / "config"))
    for args in (("target", "add", "pi2", url), (*NULL_RUN, "--target", url)):
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2, r.stderr
        assert "hunter2" not in r.stderr + r.stdout
        _error_line(r)
    assert not (tmp_path / "config" / "targets.yaml").exists()


def test_4_redact_keeps_the_user_and_the_host() -> None:
    from edgebench.errors import redact

    assert redact("'ssh:/pi:hunter2@127.0.0.1' is bad") == "'ssh:/pi:***@127.0.0.1' is bad"
    assert redact("https://u:p%40ss@example.com/x.whl: HTTP 404") == (
        "https://u:***@example.com/x.whl: HTTP 404"
    )
    assert redact("ssh://pi@127.0.0.1:2222 and a:b") == "ssh://pi@127.0.0.1:2222 and a:b"


# --- 5. fidelity cannot be fooled by NaN or inf ----------------------------------------------
def test_5_nan_and_inf_outputs_are_no_agreement() -> None:
    import numpy as np

    from edgebench.accuracy.metrics import fidelity

    rng = np.random.default_rng(0)
    reference = [rng.normal(size=(8, 10)).astype(np.float32)]
    nan = [np.full((8, 10), np.nan, np.float32)]
    result = fidelity(nan, reference, "classification")  # was cosine 1.0, snr_db inf
    assert (
        result["non_finite"] == 80
        and "80 of 80 of its output values are not finite" in (result["error"])
    )
    assert "snr_db" not in result and "cosine" not in result
    inf = [reference[0].copy()]
    inf[0][0, :3] = np.inf  # raised ValueError: math domain error
    assert fidelity(inf, reference, "classification")["non_finite"] == 3
    result = fidelity(reference, nan, "classification")  # a broken reference fails no cell
    assert "non_finite" not in result and "the FP32 reference's" in result["error"]


def test_5_a_cell_with_nan_outputs_fails_with_the_count_and_keeps_its_timings(
    tmp_path: Path,
) -> None:
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--compiler", "nan-outputs", "--weights",
        "random", "--min-duration", "0", "--no-fidelity", "--json", "--db", "r.db",
        cwd=tmp_path, env=cli_env(tmp_path / "c", plugins=True),
    )  # fmt: skip
    (cell,) = json.loads(r.stdout)
    assert cell["status"] == "failed", cell
    assert cell["error"] == "10 of 10 of its output values are not finite (NaN or inf)"
    assert cell["latency_ms"]["p50"] > 0 and cell["n_runs"] >= 20


# --- 7. cache entries are verified by content ------------------------------------------------
def _zero_in_place(path: Path, start: int = 100, end: int = 2100) -> None:
    """Bytes start..end zeroed, the file's size and modification time kept."""
    stat = path.stat()
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(bytes(end - start))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_7_bytes_changed_in_place_with_size_and_time_kept_are_a_miss(tmp_path: Path) -> None:
    from edgebench.cache import ArtifactCache

    cache = ArtifactCache(tmp_path)
    scratch = cache.begin("tflite", "k")
    (scratch / "model.tflite").write_bytes(os.urandom(50_000))
    entry = cache.commit("tflite", "k", scratch, "model.tflite", {})
    _zero_in_place(entry.path)
    fresh = ArtifactCache(tmp_path)  # a later run: nothing verified in this process yet
    assert fresh.lookup("tflite", "k") is None
    assert fresh.warnings == ["cache entry tflite/k was damaged (its content changed since it "
                              "was built): rebuilt"]  # fmt: skip


@pytest.mark.tflite
def test_7_a_damaged_tflite_in_the_cache_is_rebuilt_and_said(
    tmp_path: Path, shared_cache: Path
) -> None:
    """The issue's case: a cached .tflite with bytes 100-2100 zeroed, its size and time kept,
    failed every rerun with a flatbuffer error that never mentioned the cache."""
    import shutil

    args = ("run", "--model", "mobilenet_v2_035_96", "--compiler", "tflite", "--weights",
            "random", "--min-duration", "0", "--min-runs", "5", "--json",
            "--db", "r.db")  # fmt: skip
    r = run_cli(*args, cwd=tmp_path, env=cli_env(shared_cache), timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    (clean,) = json.loads(r.stdout)
    cache = tmp_path / "cache"
    # Other workers build entries in the shared cache meanwhile: their scratch folders
    # (`.KEY.PID.tmp`) are renamed away as they finish, so copying one would race.
    shutil.copytree(shared_cache, cache, ignore=shutil.ignore_patterns(".*.tmp"))
    artifact = cache / Path(clean["artifact_path"]).relative_to(shared_cache)
    _zero_in_place(artifact)
    r = run_cli(*args, cwd=tmp_path, env=cli_env(cache), timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    (cell,) = json.loads(r.stdout)
    assert cell["status"] == "ok" and cell["cache_hit"] is False, cell["error"]
    assert any("was damaged (its content changed since it was built): rebuilt" in w
               for w in cell["warnings"]), cell["warnings"]  # fmt: skip
    assert "was damaged" in r.stderr  # said in the terminal too
    assert cell["fidelity"]["snr_db"] > 60


# --- 6. a model file is identified by its content, not its name ------------------------------
def _tiny_onnx(path: Path, scale: float) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path.parent.mkdir(parents=True, exist_ok=True)
    w = numpy_helper.from_array(np.full((8, 4), scale, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


ORT_RUN = ("--compiler", "onnxruntime", "--min-duration", "0", "--min-runs", "5",
           "--no-fidelity", "--json", "--db", "r.db")  # fmt: skip


@pytest.mark.onnxruntime
def test_6_two_model_files_of_one_name_are_two_models(tmp_path: Path) -> None:
    a = _tiny_onnx(tmp_path / "a" / "model.onnx", 1.0)
    b = _tiny_onnx(tmp_path / "b" / "model.onnx", 2.0)
    env = cli_env(tmp_path / "c")
    r = run_cli("run", "--model", f"{a},{b}", *ORT_RUN, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    cells = json.loads(r.stdout)
    assert len(cells) == 2 and len({c["model_digest"] for c in cells}) == 2  # one cell before
    labels = [f"model@{c['model_digest'][:8]}" for c in cells]
    shown = run_cli("results", "--db", "r.db", cwd=tmp_path, env=env).stdout
    assert all(label in shown for label in labels), shown
    r = run_cli("report", "--db", "r.db", "-o", "r.html", cwd=tmp_path, env=env)
    assert r.returncode == 0 and all(label in (tmp_path / "r.html").read_text() for label in labels)
    # One run of each file: compare reported -97.9% between two different models.
    runs = []
    for path in (a, b):
        r = run_cli("run", "--model", str(path), *ORT_RUN, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        runs.append(json.loads(r.stdout)[0]["run_id"])
    r = run_cli("compare", *runs, "--db", "r.db", "--fail-on", "p50:5%", cwd=tmp_path, env=env)
    assert r.returncode == 2
    assert "no cells in common" in _error_line(r) and "other content" in _error_line(r)


@pytest.mark.onnxruntime
def test_6_resume_measures_the_second_file_of_one_name(tmp_path: Path) -> None:
    _tiny_onnx(tmp_path / "a" / "model.onnx", 1.0)
    _tiny_onnx(tmp_path / "b" / "model.onnx", 2.0)
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ngrids:\n  - models: [a/model.onnx, b/model.onnx]\n    compilers: [onnxruntime]\n"
        "    fidelity: false\n    stop_rule: {min_duration_s: 0, min_runs: 5}\n"
    )
    env = cli_env(tmp_path / "c")
    r = run_cli("suite", "run", str(suite), "--db", "r.db", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    first, second = json.loads(r.stdout)
    with sqlite3.connect(tmp_path / "r.db") as conn:  # as if killed before the second file
        conn.execute("DELETE FROM cells WHERE record_json LIKE ?",
                     (f'%"model_digest": "{second["model_digest"]}"%',))  # fmt: skip
    r = run_cli("suite", "run", str(suite), "--db", "r.db", "--resume", first["run_id"],
                "--json", cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    (again,) = json.loads(r.stdout)  # it was skipped for good
    assert again["model_digest"] == second["model_digest"]


# --- 8. --resume refuses a different suite of the same name ----------------------------------
def test_8_resume_refuses_a_changed_suite_of_the_same_name(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    grid = (
        "name: s\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [null]\n"
        "    weights: random\n    fidelity: false\n    stop_rule: {min_duration_s: 0}\n"
    )
    suite.write_text(grid + "    precisions: [fp32]\n")
    env = cli_env(tmp_path / "c")
    r = run_cli("suite", "run", str(suite), "--db", "r.db", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    run_id = json.loads(r.stdout)[0]["run_id"]
    suite.write_text(grid + "    precisions: [fp16]\n")
    r = run_cli("suite", "run", str(suite), "--db", "r.db", "--resume", run_id, cwd=tmp_path,
                env=env)  # fmt: skip
    assert r.returncode == 2 and "another version of suite 's'" in _error_line(r)


# --- 9. another program's database is never written ------------------------------------------
# --- 10. contradictions are refused or warned, never resolved silently -----------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("-o", "xnnpack=true", "-o", "xnnpack=false"), "--option xnnpack is given twice"),
        (("--min-runs", "50", "--max-runs", "5"), "max_runs (5) is less than min_runs (50)"),
    ],
)
def test_10_contradictions_are_refused(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    r = run_cli(*NULL_RUN, *args, "--db", "r.db", cwd=tmp_path)
    assert r.returncode == 2 and needle in _error_line(r)
    assert not (tmp_path / "r.db").exists()


def test_10_a_name_given_twice_is_measured_once_and_said(tmp_path: Path) -> None:
    args = list(NULL_RUN)
    args[2] = "mobilenet_v2_035_96,mobilenet_v2_035_96"
    r = run_cli(*args, "--precision", "fp32,fp32", "--json", "--db", "r.db", cwd=tmp_path,
                env=cli_env(tmp_path / "c"))  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(json.loads(r.stdout)) == 1  # measured twice
    assert "model mobilenet_v2_035_96 given twice: measured once" in r.stderr
    assert "precision fp32 given twice: measured once" in r.stderr


# --- 9. another program's database is never written ------------------------------------------
@pytest.mark.parametrize("pragma", ["application_id = 1234", "user_version = 7"])
def test_9_an_empty_database_of_another_program_is_never_written(
    tmp_path: Path, pragma: str
) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA {pragma}")
    before = db.read_bytes()
    r = run_cli(*NULL_RUN, "--db", str(db), cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 2 and "another program's" in _error_line(r)
    assert db.read_bytes() == before  # was turned into an edgebench store


def test_9_a_new_store_carries_edgebench_s_application_id(tmp_path: Path) -> None:
    from edgebench.store import APPLICATION_ID, ResultStore

    with ResultStore(tmp_path / "r.db"):
        pass
    with sqlite3.connect(tmp_path / "r.db") as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


# --- 12. results --runs --json prints JSON ---------------------------------------------------
def test_12_results_runs_json_is_json(tmp_path: Path) -> None:
    r = run_cli(*NULL_RUN, "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_cli("results", "--runs", "--json", "--db", "r.db", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (run,) = json.loads(r.stdout)  # a table before
    assert run["n_cells"] == 1 and run["run_id"] and run["system"]["hostname"]


# --- 11. tune's budget is a limit every time --------------------------------------------------
def test_11_tune_refuses_a_budget_too_small_for_one_candidate_before_any_work() -> None:
    from edgebench.settings import StopRuleSettings
    from edgebench.tune.search import BudgetTooSmall, Tuner

    calls = []
    with pytest.raises(BudgetTooSmall, match="too small for one candidate"):
        Tuner(lambda *a: calls.append(a), "latency", 0.01, 0.5, StopRuleSettings())  # type: ignore[arg-type, return-value]
    assert not calls


def test_11_a_candidate_that_runs_long_is_stopped_when_the_budget_is_spent(
    tmp_path: Path,
) -> None:
    """A candidate could run a minute past any budget (its cell's timeout was at least 60 s):
    --budget 0.5s right after a refused --budget 1s ran 37 s and printed a winner."""
    started = time.monotonic()
    r = run_cli("tune", "--model", "mobilenet_v2_035_96", "--weights", "random", "--compiler",
                "hang", "--budget", "12s", "--db", "t.db", cwd=tmp_path,
                env=cli_env(tmp_path / "c", plugins=True), timeout=300)  # fmt: skip
    took = time.monotonic() - started
    assert r.returncode == 2, r.stderr[-2000:]
    assert "timed out after 12 s" in r.stderr and "--budget 12 s is too small" in _error_line(r)
    # 12 s of budget, and the start and preparation around it (41 s in all under a clean
    # clone's make test on a slow day); unstopped, the candidate would run its cell timeout
    # (900 s), and the message above is what says the budget stopped it.
    assert took < 75, took


# --- 13. an adb server edgebench started is stopped -------------------------------------------
def _adb_servers() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"adb") and b"fork-server" in cmd:
            found.append(int(proc.name))
    return found


@pytest.fixture()
def adb_client() -> str:
    import shutil

    from support.host import apt_install

    if shutil.which("adb") is None:
        try:
            apt_install(["adb"])
        except RuntimeError as exc:
            pytest.skip(f"no adb here: {str(exc).splitlines()[0]}")
    adb = shutil.which("adb")
    assert adb is not None
    subprocess.run([adb, "kill-server"], capture_output=True, timeout=30)
    return adb


def test_13_an_adb_target_without_a_device_leaves_no_adb_server(
    tmp_path: Path, adb_client: str
) -> None:
    env = cli_env(HOME=str(tmp_path), ANDROID_ADB_SERVER_PORT="15037")
    r = run_cli("target", "check", "adb://nosuchdevice", cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 1 and "unreachable" in _error_line(r)
    assert not _adb_servers()  # `adb -L tcp:5037 fork-server server` stayed, parent 1
    # One that was already running is the user's: it stays.
    subprocess.run([adb_client, "start-server"], env=env, capture_output=True, timeout=60)
    try:
        assert _adb_servers()
        r = run_cli("target", "check", "adb://nosuchdevice", cwd=tmp_path, env=env, timeout=120)
        assert r.returncode == 1 and _adb_servers()
    finally:
        subprocess.run([adb_client, "kill-server"], env=env, capture_output=True, timeout=30)


# --- 14. SIGHUP stops a run as SIGTERM does ---------------------------------------------------
def test_14_sighup_stops_like_sigterm_and_leaves_nothing(tmp_path: Path) -> None:
    from test_hardening import HANG, _start, _stored, _wait_for, _workers

    (tmp_path / "tmp").mkdir()
    proc = _start(tmp_path, *HANG)
    assert _wait_for(lambda: _stored(tmp_path / "r.db") == 1)  # the null cell is in
    assert _wait_for(lambda: bool(_workers(tmp_path)))
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 129, stderr  # exited 129 with no message
    assert "interrupted: 1 cells kept in r.db" in stderr and "Traceback" not in stderr
    assert _wait_for(lambda: not _workers(tmp_path), 5)
    assert list((tmp_path / "tmp").iterdir()) == []  # /tmp/edgebench-PID-* was left


@pytest.mark.parametrize(("sig", "code", "said"), [(signal.SIGTERM, 143, "terminated"),
                                                    (signal.SIGHUP, 129, "hung up")])  # fmt: skip
def test_18_a_signal_to_a_busy_command_outside_a_run_says_so(
    tmp_path: Path, sig: int, code: int, said: str
) -> None:
    """SIGTERM to a busy `suite check` exited 130 with nothing printed, as if Ctrl-C: here a
    `target check` waiting on a host that accepts and never answers."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgebench", "target", "check", f"ssh://x@127.0.0.1:{port}"],
            cwd=tmp_path, env=cli_env(EDGEBENCH_CONFIG=str(tmp_path / "cfg")),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        conn, _ = silent.accept()  # it is connected, waiting for a banner
        time.sleep(1.0)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
        conn.close()
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == said and "Traceback" not in stderr


# --- 15. a target without SFTP -----------------------------------------------------------------
@pytest.mark.tflite
def test_15_a_target_without_sftp_copies_over_the_exec_channel_and_says_so(
    tmp_path: Path, shared_cache: Path, sshd_without_sftp: Any
) -> None:
    server = sshd_without_sftp
    env = cli_env(shared_cache, EDGEBENCH_CONFIG=str(tmp_path / "config"))
    r = run_cli("target", "add", "ebt", server.url, "--key", str(server.key_path),
                "--workdir", str(tmp_path / "device"), "--python", sys.executable,
                cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run_cli("target", "check", "ebt", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr  # ConnectionError: copy to ebt failed (Channel closed.)
    assert "copies      exec (the server has no SFTP subsystem)" in r.stdout
    r = run_cli("run", "--model", "mobilenet_v2_035_96", "--weights", "random", "--compiler",
                "tflite", "--target", "ebt", "--min-duration", "0.2", "--json", "--db", "r.db",
                cwd=tmp_path, env=env, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    (cell,) = json.loads(r.stdout)
    assert cell["status"] == "ok", cell["error"]
    assert cell["target"]["copy_via"] == "exec (the server has no SFTP subsystem)"
    assert cell["fidelity"]["top1_agreement"] == 1.0  # the outputs came back whole


# --- 16. one line, not a traceback ------------------------------------------------------------
def test_16_a_symlink_loop_as_model_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.onnx").symlink_to("b.onnx")
    (tmp_path / "b.onnx").symlink_to("a.onnx")
    r = run_cli("run", "--model", "a.onnx", "--compiler", "null", "--db", "r.db", cwd=tmp_path)
    assert r.returncode == 2 and "a loop of symbolic links" in _error_line(r)


def test_16_a_cache_folder_that_is_a_file_or_read_only_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    r = run_cli(*NULL_RUN, "--cache-dir", "afile", "--db", "r.db", cwd=tmp_path)
    assert r.returncode == 2 and "--cache-dir afile: is a file, not a folder" in _error_line(r)
    r = run_cli(*NULL_RUN, "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "afile"))
    assert r.returncode == 2 and "EDGEBENCH_CACHE=" in _error_line(r)
    assert not (tmp_path / "r.db").exists()
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir(mode=0o500)
        r = run_cli(*NULL_RUN, "--cache-dir", "ro/cache", "--db", "r.db", cwd=tmp_path)
        assert r.returncode == 2 and "is not writable" in _error_line(r)


def test_16_a_config_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    env = cli_env(EDGEBENCH_CONFIG=str(tmp_path / "afile"))
    for args in (("target", "add", "x", "ssh://pi@127.0.0.1"), ("target", "list")):
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2 and "EDGEBENCH_CONFIG=" in _error_line(r), args


def test_16_a_missing_plugin_module_is_one_line(tmp_path: Path) -> None:
    r = run_cli(*NULL_RUN, "--db", "r.db", cwd=tmp_path,
                env=cli_env(EDGEBENCH_PLUGINS="no_such_plugin_module"))  # fmt: skip
    assert r.returncode == 2
    assert "EDGEBENCH_PLUGINS names the module 'no_such_plugin_module'" in _error_line(r)


def test_16_outputs_on_a_read_only_file_system_are_refused_before_any_work(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    from test_hardening import _tiny_store

    db = _tiny_store(tmp_path)
    media = tmp_path / "media"
    media.mkdir()
    if subprocess.run(["mount", "--bind", str(media), str(media)]).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(media)], check=True)
        for args in (
            ("report", "-o", str(media / "r.html")),
            ("export", "-o", str(media / "r.json")),
            ("report", "-o", str(tmp_path / "r.html"), "--figures", str(media / "f")),
        ):
            r = run_cli(*args, "--db", str(db), cwd=tmp_path)  # fmt: skip
            assert r.returncode == 2 and "not writable" in _error_line(r), args
        r = run_cli(*NULL_RUN, "--report", str(media / "r.html"), "--db", "new.db",
                    cwd=tmp_path, env=cli_env(tmp_path / "c"))  # fmt: skip
        assert r.returncode == 2 and "--report" in _error_line(r)
        assert not (tmp_path / "new.db").exists()  # refused before measuring
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)


def test_16_a_fleet_worker_for_an_unknown_target_is_refused_at_once(tmp_path: Path) -> None:
    env = cli_env(EDGEBENCH_CONFIG=str(tmp_path / "cfg"))
    started = time.monotonic()
    r = run_cli("fleet", "worker", "--scheduler", "tcp://127.0.0.1:1", "--target", "nosuchdev",
                cwd=tmp_path, env=env, timeout=120)  # fmt: skip
    assert time.monotonic() - started < 15  # 181 lines after 33 s
    assert r.returncode == 2 and "unknown target 'nosuchdev'" in _error_line(r)
    r = run_cli("fleet", "worker", "--scheduler", "tcp://127.0.0.1:1", cwd=tmp_path, env=env,
                timeout=120)  # fmt: skip
    assert r.returncode == 1 and "no scheduler answers there" in _error_line(r)


# --- 17. URL and address arguments are validated when given -----------------------------------
@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ssh://pi@127.0.0.1:abc", "the port must be a number from 1 to 65535"),
        ("ssh://pi@127.0.0.1:99999", "the port must be a number from 1 to 65535"),
        ("ssh://pi@", "no host"),
        ("ssh://pi@exa mple.com", "is not a host name or address"),
        ("adb://", "adb://SERIAL takes one serial"),
    ],
)
def test_17_a_malformed_target_url_is_refused_when_given(
    tmp_path: Path, url: str, needle: str
) -> None:
    env = cli_env(EDGEBENCH_CONFIG=str(tmp_path / "cfg"))
    for args in (("target", "add", "t1", url), (*NULL_RUN, "--target", url, "--db", "r.db")):
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2 and needle in _error_line(r), args
    assert not (tmp_path / "cfg" / "targets.yaml").exists()


def test_18_a_relative_key_is_stored_absolute(tmp_path: Path) -> None:
    """`--key id_ed25519` was stored as given: the target broke from any other folder."""
    (tmp_path / "id_ed25519").write_text("not read here")
    env = cli_env(EDGEBENCH_CONFIG=str(tmp_path / "cfg"))
    r = run_cli("target", "add", "pi", "ssh://pi@127.0.0.1", "--key", "id_ed25519",
                cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    stored = (tmp_path / "cfg" / "targets.yaml").read_text()
    assert f"key: {tmp_path / 'id_ed25519'}" in stored, stored


# --- 19. a run in which every cell failed exits non-zero; targets before a cluster ------------
def test_19_suite_run_checks_targets_before_a_cluster_is_started(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ngrids:\n  - models: [mobilenet_v2_035_96]\n"
                     "    compilers: [null]\n    weights: random\n")  # fmt: skip
    started = time.monotonic()
    r = run_cli("suite", "run", str(suite), "--cluster", "local:1", "--targets", "local,nosuch",
                "--db", "r.db", cwd=tmp_path, env=cli_env(EDGEBENCH_CONFIG=str(tmp_path / "c")),
                timeout=120)  # fmt: skip
    assert r.returncode == 2 and "unknown target 'nosuch'" in _error_line(r)
    assert "fleet: scheduler" not in r.stderr and time.monotonic() - started < 15


def test_19_a_run_in_which_every_cell_failed_exits_3_and_keeps_its_cells(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "c", plugins=True)
    r = run_cli("run", "--model", "mobilenet_v2_035_96", "--compiler", "nan-outputs,abort",
                "--weights", "random", "--min-duration", "0", "--no-fidelity", "--json",
                "--db", "r.db", cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 3, r.stderr[-2000:]  # exited 0
    assert [c["status"] for c in json.loads(r.stdout)] == ["failed", "failed"]
    assert "no cell was measured: exit 3" in r.stderr
    r = run_cli("results", "--db", "r.db", "--json", cwd=tmp_path)
    assert len(json.loads(r.stdout)) == 2


# --- 18. clear messages -----------------------------------------------------------------------
def test_18_a_negative_seed_is_refused_up_front(tmp_path: Path) -> None:
    r = run_cli(*NULL_RUN, "--seed", "-1", "--db", "r.db", cwd=tmp_path)
    assert r.returncode == 2 and _error_line(r).startswith("error: --seed: ")
    assert not (tmp_path / "r.db").exists()  # every cell failed, exit 0, --seed never named


def test_18_a_file_that_holds_no_weights_is_refused_up_front(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "fake.h5").write_text("not hdf5")
    for bad, needle in (("passwd", "not a weights file; edgebench reads"),
                        ("fake.h5", "not an HDF5 file")):  # fmt: skip
        started = time.monotonic()
        r = run_cli("run", "--model", "mobilenet_v2", "--compiler", "null", "--weights", bad,
                    "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "c"))  # fmt: skip
        assert r.returncode == 2 and needle in _error_line(r)
        assert time.monotonic() - started < 15  # failed 30 s later, in conversion


def test_18_a_current_zip_format_checkpoint_is_read(tmp_path: Path) -> None:
    """`torch.save` has written zip files since PyTorch 1.6: reading one said 'persistent IDs
    in protocol 0 must be ASCII strings'."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from edgebench.models.torch_checkpoint import load_state_dict

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    torch.save({"state_dict": module.state_dict(), "epoch": 3}, tmp_path / "ck.pth")
    state = load_state_dict(tmp_path / "ck.pth")
    expected = module.state_dict()
    assert sorted(state) == sorted(expected)
    assert all(np.array_equal(state[k], expected[k].numpy()) for k in state)


@pytest.mark.tflite
def test_18_a_killed_remote_agent_is_said_to_be_killed(
    tmp_path: Path, shared_cache: Path, loopback_sshd: Any
) -> None:
    """Its reason was an unrelated log line: 'INFO: Created TensorFlow Lite XNNPACK delegate
    for CPU.'"""
    env = cli_env(shared_cache, EDGEBENCH_CONFIG=str(tmp_path / "config"))
    device = tmp_path / "device"
    key = str(loopback_sshd.key_path)
    r = run_cli("target", "add", "loop", loopback_sshd.url, "--key", key, "--workdir",
                str(device), "--python", sys.executable, cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgebench", "run", "--model", "mobilenet_v2_035_96", "--weights",
         "random", "--compiler", "tflite", "--target", "loop", "--min-duration", "60",
         "--no-fidelity", "--json", "--db", "r.db"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def agents() -> list[int]:
        found = []
        for p in Path("/proc").iterdir():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if b"harness.worker import main" in cmd and bytes(device) in cmd:
                found.append(int(p.name))
        return found

    end = time.monotonic() + 300
    while not agents() and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(3.0)  # measuring: past the load and the delegate's log line
    for pid in agents():
        os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    (cell,) = json.loads(out)
    assert cell["status"] == "failed", cell
    assert "the agent was killed by" in cell["error"] and "INFO" not in cell["error"], cell["error"]
