"""The harness on the `null` compiler and on compilers that crash, hang or fail to convert."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from edgebench.harness.noise import CpuSnapshot, others_cpu_pct, snapshot
from edgebench.harness.timing import StopRule, time_runs
from edgebench.store import ResultStore


def test_stop_rule_needs_both_count_and_duration() -> None:
    calls = []

    def predict(xs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return xs

    w = time_runs(predict, [], StopRule(warmup_runs=3, min_runs=5, min_duration_s=0.0))
    assert len(w.samples_ms) == 5 and len(calls) == 1 + 3 + 5

    def slow(xs):  # type: ignore[no-untyped-def]
        time.sleep(0.01)

    w = time_runs(slow, [], StopRule(warmup_runs=0, min_runs=2, min_duration_s=0.2))
    assert len(w.samples_ms) >= 15  # 0.2 s of 10 ms runs, well past the 2-run minimum
    assert w.window_s >= 0.2
    assert all(s >= 9.0 for s in w.samples_ms)


def test_noise_is_others_share_of_all_cores() -> None:
    import os

    hz = os.sysconf("SC_CLK_TCK")
    before = CpuSnapshot(busy_ticks=0, total_ticks=0, own_s=0.0)
    # 2 s of wall on 2 cores = 4 s of CPU; 3 s busy of which 1 s was ours: others 2 s = 50%.
    after = CpuSnapshot(busy_ticks=3 * hz, total_ticks=4 * hz, own_s=1.0)
    assert others_cpu_pct(before, after) == pytest.approx(50.0)
    assert others_cpu_pct(None, after) is None
    assert snapshot() is not None


def test_null_compiler_run_records_every_field(tmp_path: Path) -> None:
    r = run_cli(
        "run",
        "--model",
        "mobilenet_v2_035_96",
        "--compiler",
        "null",
        "--precision",
        "fp32",
        "--batch",
        "1,4",
        "--weights",
        "random",
        "--min-duration",
        "0.1",
        "--json",
        "--db",
        str(tmp_path / "r.db"),
        cwd=tmp_path,
        env=cli_env(tmp_path / "cache"),
    )
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    assert [rec["batch_size"] for rec in records] == [1, 4]
    for rec in records:
        assert rec["status"] == "ok" and rec["weights"] == "random"
        assert rec["n_runs"] >= 20 and rec["latency_ms"]["p50"] < 5
        assert rec["throughput_ips"] > 0 and rec["peak_rss_mb"] > 1
        assert rec["system"]["cpu"]["logical_cores"] >= 1
        assert any("random weights" in w for w in rec["warnings"])
    with ResultStore(tmp_path / "r.db") as store:
        assert len(store.cells()) == 2


def test_crash_hang_and_failed_conversion_are_failed_cells_and_the_run_goes_on(
    tmp_path: Path, shared_cache: Path
) -> None:
    env = cli_env(shared_cache, plugins=True)
    common = ("run", "--model", "mobilenet_v2_035_96", "--weights", "random", "--min-duration",
              "0.1", "--no-fidelity", "--json")  # fmt: skip
    r = run_cli(*common, "--compiler", "abort,hang,late-unsupported,null", "--cell-timeout", "10",
                "--db", "r.db", cwd=tmp_path, env=env, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    by = {rec["compiler"]: rec for rec in json.loads(r.stdout)}
    assert by["abort"]["status"] == "failed" and "SIGABRT" in by["abort"]["error"]
    assert by["hang"]["status"] == "failed" and "timed out after 10 s" in by["hang"]["error"]
    assert by["late-unsupported"]["status"] == "unsupported"
    assert "no fp32 kernels" in by["late-unsupported"]["error"]
    assert by["null"]["status"] == "ok"
    with ResultStore(tmp_path / "r.db") as store:
        assert {c.compiler: c.status for c in store.cells()} == {
            k: v["status"] for k, v in by.items()
        }
    # A conversion that raises (after TensorFlow exported the SavedModel it starts from: the
    # default timeout, as a loaded host may take 20 s and more for that) fails its cell alone.
    r = run_cli(*common, "--compiler", "broken-convert,null", "--db", "r.db", cwd=tmp_path,
                env=env, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    by = {rec["compiler"]: rec for rec in json.loads(r.stdout)}
    if by["broken-convert"]["status"] == "failed":  # needs TensorFlow to reach the compile step
        assert "deliberate conversion failure" in by["broken-convert"]["error"]
        assert "\n" not in by["broken-convert"]["error"]
    else:
        assert by["broken-convert"]["status"] == "skipped"
    assert by["null"]["status"] == "ok"


@pytest.mark.tflite
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_latency_is_the_inference_alone_and_the_copies_are_io_ms(
    tmp_path: Path, shared_cache: Path
) -> None:
    """Vendor tools (benchmark_app, LiteRT's benchmark tool) time the inference call on
    buffers bound beforehand; edgebench's latency_ms does the same where the runtime allows,
    and reports the copies in and out as io_ms (edgebench 0.1 timed them together)."""
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--weights", "random",
        "--compiler", "tflite,onnxruntime,openvino,null", "--min-duration", "0.2",
        "--no-fidelity", "--json", "--db", "r.db",
        cwd=tmp_path, env=cli_env(shared_cache),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    by = {rec["compiler"]: rec for rec in json.loads(r.stdout)}
    for name in ("tflite", "onnxruntime", "openvino"):
        rec = by[name]
        assert rec["status"] == "ok", rec["error"]
        io, lat = rec["io_ms"], rec["latency_ms"]
        assert io is not None and 0 < io["p50"] < lat["p50"], (name, io, lat)
        # throughput counts whole runs, copies included
        assert rec["throughput_ips"] < 1000 / lat["mean"]
    assert by["null"]["io_ms"] is None  # whole calls: nothing to split
    # OpenVINO's own timer (what benchmark_app reports) over the same runs, inside the call
    engine = (by["openvino"]["runtime_metrics"] or {}).get("engine_ms")
    assert engine is not None and engine["runs"] == by["openvino"]["n_runs"], engine
    assert 0 < engine["p50"] <= by["openvino"]["latency_ms"]["p50"], engine


def test_a_converters_own_error_names_the_step_that_gave_up(tmp_path: Path) -> None:
    """A corpus model's square read `conversion failed: IndexError: list index out of range`:
    which of its route's converters failed (tf2onnx, here) was not said. A third-party
    converter's error, and edgebench's own ConversionError, now carry the step's name; a
    missing route or input size is said as it is."""
    from edgebench.conversion.routes import Converter, NoRoute
    from edgebench.errors import ConversionError
    from edgebench.harness.convert import converted
    from edgebench.models import resolve_model
    from edgebench.models.weights import ResolvedWeights

    model = resolve_model("mobilenet_v2_035_96")

    def run(function: str, weights: ResolvedWeights) -> BaseException:
        converter = Converter("tflite_to_onnx", "tflite", "onnx", function)
        with pytest.raises((ConversionError, NoRoute)) as failure:
            converted(converter.name, converter, None, tmp_path, model, weights, None)
        return failure.value

    # json.loads takes one argument: a converter function failing with its own error type.
    error = run("json:loads", ResolvedWeights("random", None))
    assert isinstance(error, ConversionError)
    assert str(error).startswith("tflite_to_onnx: TypeError: "), error
    # The twin refuses Keras weights before importing anything: a route, not a failure.
    error = run(
        "edgebench.conversion.torch_steps:materialize_torch_twin",
        ResolvedWeights("imagenet", "/nowhere/weights.h5"),
    )
    assert isinstance(error, NoRoute) and str(error).startswith("the PyTorch twin of")
