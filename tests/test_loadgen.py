"""MLPerf LoadGen scenarios: the log parser, and each scenario end to end on the null compiler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from edgebench.harness.loadgen_driver import parse_detail_log, summarize_logs

_DETAIL = """\
:::MLLOG {"key": "loadgen_version", "value": "6.0.17 @ d6147c7eb7", "time_ms": 0.01}
:::MLLOG {"key": "effective_samples_per_query", "value": 1, "time_ms": 0.02}
:::MLLOG {"key": "effective_target_qps", "value": 200, "time_ms": 0.02}
:::MLLOG {"key": "effective_target_latency_ns", "value": 50000000, "time_ms": 0.02}
:::MLLOG {"key": "effective_min_duration_ms", "value": 1000, "time_ms": 0.02}
:::MLLOG {"key": "result_validity", "value": "INVALID", "time_ms": 1000.1}
:::MLLOG {"key": "result_perf_constraints_met", "value": true, "time_ms": 1000.1}
:::MLLOG {"key": "result_invalid_reason", "value": "", "time_ms": 1000.1}
:::MLLOG {"key": "result_query_count", "value": 190, "time_ms": 1000.1}
:::MLLOG {"key": "result_completed_samples_per_sec", "value": 187.413, "time_ms": 1000.1}
:::MLLOG {"key": "result_mean_latency_ns", "value": 2795421, "time_ms": 1000.1}
:::MLLOG {"key": "result_50.00_percentile_latency_ns", "value": 2217856, "time_ms": 1000.1}
:::MLLOG {"key": "result_90.00_percentile_latency_ns", "value": 4347751, "time_ms": 1000.1}
:::MLLOG {"key": "result_99.00_percentile_latency_ns", "value": 6584270, "time_ms": 1000.1}
:::MLLOG {"key": "early_stopping_met", "value": false, "time_ms": 1000.1}
not a log line
:::MLLOG {"broken json
"""


def test_summary_of_a_server_log(tmp_path: Path) -> None:
    assert parse_detail_log(_DETAIL)["result_query_count"] == 190
    (tmp_path / "mlperf_log_detail.txt").write_text(_DETAIL)
    s = summarize_logs(tmp_path, "server")
    assert s["valid"] is False and s["validity"] == "INVALID"
    assert s["invalid_reason"] == "early stopping not met (run more queries)"
    assert s["samples_per_s"] == pytest.approx(187.413)
    assert (s["p50_ms"], s["p90_ms"], s["p99_ms"]) == pytest.approx((2.217856, 4.347751, 6.58427))
    assert s["target_qps"] == 200 and s["target_latency_ms"] == pytest.approx(50.0)
    assert s["min_duration_s"] == 1.0 and s["early_stopping_met"] is False


def test_unknown_scenario_is_rejected_before_running(tmp_path: Path) -> None:
    r = run_cli(
        "run",
        "--model",
        "mobilenet_v2_035_96",
        "--compiler",
        "null",
        "--weights",
        "random",
        "--scenario",
        "streaming",
        "--db",
        str(tmp_path / "r.db"),
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert (
        "unknown scenario 'streaming'; valid: single-stream, multi-stream, server, offline"
        in r.stderr
    )


@pytest.mark.loadgen
@pytest.mark.parametrize("scenario", ["single-stream", "multi-stream", "server", "offline"])
def test_scenarios_on_the_null_compiler(tmp_path: Path, scenario: str) -> None:
    r = run_cli(
        "run",
        "--model",
        "mobilenet_v2_035_96",
        "--compiler",
        "null",
        "--weights",
        "random",
        "--batch",
        "2",
        "--scenario",
        scenario,
        "--min-duration",
        "0.3",
        "--min-runs",
        "16",
        "--json",
        "--db",
        str(tmp_path / "r.db"),
        cwd=tmp_path,
        env=cli_env(tmp_path / "cache"),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (rec,) = json.loads(r.stdout)
    assert rec["status"] == "ok", rec["error"]
    lg = rec["loadgen"]
    assert lg["scenario"] == scenario and lg["validity"] in ("VALID", "INVALID")
    assert lg["valid"] == (lg["validity"] == "VALID")
    assert lg["samples_per_s"] > 0 and rec["throughput_ips"] == lg["samples_per_s"]
    assert 0 < lg["p90_ms"] <= lg["p99_ms"]
    assert lg["loadgen_version"].startswith("6.")
    assert lg["min_duration_s"] == pytest.approx(0.3)
    assert rec["n_runs"] >= 1 and rec["latency_ms"]["p50"] > 0  # the harness's own timings
    assert lg["samples_per_query"] == {"multi-stream": 8}.get(scenario, lg["samples_per_query"])
    if scenario == "single-stream":
        assert lg["batch_fill"] == 0.5  # one sample per query, padded to the batch of 2
    if scenario == "offline":
        assert lg["query_count"] == 1 and lg["batch_fill"] > 0.99


@pytest.mark.loadgen
def test_a_suite_grid_with_a_scenario(tmp_path: Path) -> None:
    suite = tmp_path / "lg.yaml"
    suite.write_text(
        "name: lg\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [null]\n"
        "    precisions: [fp32]\n    weights: random\n    scenario: server\n"
        "    loadgen: {target_qps: 200, target_latency_ms: 50}\n"
        "    stop_rule: {min_runs: 10, min_duration_s: 0.3}\n"
    )
    r = run_cli(
        "suite",
        "run",
        str(suite),
        "--db",
        str(tmp_path / "r.db"),
        "--json",
        cwd=tmp_path,
        env=cli_env(tmp_path / "cache"),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (rec,) = json.loads(r.stdout)
    assert rec["loadgen"]["target_qps"] == 200
    assert rec["loadgen"]["target_latency_ms"] == pytest.approx(50.0)
    assert rec["loadgen"]["samples_per_s"] == pytest.approx(200, rel=0.3)
