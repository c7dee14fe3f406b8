"""Telemetry over a fake sysfs tree, driven through the real readers and sampler."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from edgebench.telemetry import Telemetry
from edgebench.telemetry.meters import CommandMeter, Ina3221Meter, MeterError, RaplMeter

MAX_RANGE_UJ = 262_143_328_850  # a real RAPL package's max_energy_range_uj


def _write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def _rapl(root: Path, energy_uj: int) -> Path:
    domain = root / "sys/class/powercap/intel-rapl:0"
    _write(domain / "name", "package-0")
    _write(domain / "max_energy_range_uj", MAX_RANGE_UJ)
    _write(domain / "energy_uj", energy_uj)
    _write(domain / "intel-rapl:0:0/energy_uj", 0)  # a sub-domain (core): not summed twice
    return domain / "energy_uj"


def test_rapl_counter_wraps_around(tmp_path: Path) -> None:
    counter = _rapl(tmp_path, MAX_RANGE_UJ - 3_000_000)
    meter = RaplMeter(tmp_path)
    assert meter.name == "rapl(package-0)"
    assert meter.energy_j() == 0.0
    _write(counter, MAX_RANGE_UJ - 1_000_000)
    assert meter.energy_j() == pytest.approx(2.0)
    _write(counter, 4_000_000)  # wrapped: 1 J to the top, then 4 J
    assert meter.energy_j() == pytest.approx(7.0)


@pytest.fixture
def scripted_rapl(tmp_path: Path) -> Iterator[tuple[Path, float, list[float]]]:
    """A RAPL counter that a thread advances at 12.5 W, wrapping around during the test; the
    list holds the time of each write."""
    watts = 12.5
    writes: list[float] = []
    start_uj = MAX_RANGE_UJ - int(watts * 0.4 * 1e6)  # wraps 0.4 s in
    counter = _rapl(tmp_path, start_uj)
    stop = threading.Event()
    t0 = time.perf_counter()

    def advance() -> None:
        while not stop.is_set():
            value = (start_uj + int(watts * (time.perf_counter() - t0) * 1e6)) % MAX_RANGE_UJ
            tmp = counter.with_suffix(".tmp")
            tmp.write_text(f"{value}\n")
            tmp.replace(counter)
            writes.append(time.perf_counter())
            time.sleep(0.0005)

    thread = threading.Thread(target=advance, daemon=True)
    thread.start()
    yield tmp_path, watts, writes
    stop.set()
    thread.join()


def test_sampled_energy_matches_the_scripted_counter(
    scripted_rapl: tuple[Path, float, list[float]],
) -> None:
    root, watts, writes = scripted_rapl
    telemetry = Telemetry(hz=50, idle_s=0.0, root=root)
    assert telemetry.meter is not None and telemetry.meter.kind == "energy"
    telemetry.start()
    time.sleep(3.0)
    telemetry.stop()
    window = telemetry._trace.times[-1] - telemetry._trace.times[0]
    summary = telemetry.summary(inferences=200, window_s=window)
    assert summary.power_source == "rapl(package-0)"
    # A reading is as old as the writer's last write: on a loaded machine its thread can wait
    # for a core (15 ms was seen, and on 2026-12-07 enough to read 12.78 W). Each end of the
    # window can be off by the writer's longest stall, so that, over the window, is allowed
    # beside 1%; a wrap, a sub-domain counted twice or a unit slip is far outside it.
    first, last = telemetry._trace.times[0], telemetry._trace.times[-1]
    inside = [t for t in writes if first - 1 <= t <= last + 1]
    stall = max(b - a for a, b in zip(inside, inside[1:], strict=False))
    assert summary.power_w["avg"] == pytest.approx(watts, rel=0.01 + 2 * stall / window)
    assert summary.energy_j_per_inf == pytest.approx(
        summary.power_w["avg"] * window / 200, rel=1e-6
    )
    assert summary.inf_per_j == pytest.approx(200 / (summary.power_w["avg"] * window))
    assert summary.telemetry["power_samples"] >= 120
    assert summary.power_w["idle"] is None and summary.power_w["net"] is None


def _ina3221(root: Path) -> None:
    hw = root / "sys/class/hwmon/hwmon3"
    _write(hw / "name", "ina3221")
    for k, (mv, ma, label) in enumerate([(5000, 2000, "VDD_IN"), (1000, 500, "VDD_CPU_GPU_CV")], 1):
        _write(hw / f"in{k}_input", mv)
        _write(hw / f"curr{k}_input", ma)
        _write(hw / f"in{k}_label", label)
    _write(root / "sys/class/hwmon/hwmon0/name", "k10temp")  # another device, not a rail


def _cpu_and_thermal(root: Path, cur_khz: int, max_khz: int, temp_milli: int) -> None:
    for cpu in (0, 1):
        base = root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
        _write(base / "scaling_cur_freq", cur_khz)
        _write(base / "cpuinfo_max_freq", max_khz)
    _write(root / "sys/class/thermal/thermal_zone0/temp", temp_milli)
    _write(root / "sys/class/thermal/thermal_zone1/temp", temp_milli - 10_000)


def test_ina3221_rails_frequency_temperature_and_throttling(tmp_path: Path) -> None:
    _ina3221(tmp_path)
    _cpu_and_thermal(tmp_path, cur_khz=1_500_000, max_khz=2_000_000, temp_milli=71_500)
    meter = Ina3221Meter(tmp_path)
    assert meter.power_w() == pytest.approx(10.5)  # 5 V x 2 A + 1 V x 0.5 A
    telemetry = Telemetry(hz=40, idle_s=0.2, root=tmp_path)
    telemetry.idle()
    telemetry.start()
    time.sleep(0.3)
    telemetry.stop()
    s = telemetry.summary(inferences=30, window_s=0.3)
    assert s.power_source == "ina3221(VDD_IN,VDD_CPU_GPU_CV)"
    assert s.power_w["avg"] == pytest.approx(10.5) and s.power_w["peak"] == pytest.approx(10.5)
    assert s.power_w["idle"] == pytest.approx(10.5) and s.power_w["net"] == pytest.approx(0.0)
    assert s.energy_j_per_inf == pytest.approx(10.5 * 0.3 / 30)
    assert s.cpu_freq_mhz == {"min": 1500.0, "avg": 1500.0}
    assert s.temp_c == {"max": 71.5}
    assert s.throttled is True  # 1.5 GHz against a 2 GHz top clock


def test_no_meter_means_null_power_with_the_reason(tmp_path: Path) -> None:
    _cpu_and_thermal(tmp_path, cur_khz=2_000_000, max_khz=2_000_000, temp_milli=40_000)
    telemetry = Telemetry(hz=20, idle_s=0.1, root=tmp_path)
    telemetry.idle()
    telemetry.start()
    time.sleep(0.1)
    telemetry.stop()
    s = telemetry.summary(inferences=10, window_s=0.1)
    assert s.power_w is None and s.energy_j_per_inf is None and s.inf_per_j is None
    assert s.power_source.startswith("none (") and "RAPL" in s.power_source
    assert s.throttled is False and s.cpu_freq_mhz["min"] == 2000.0


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_power_command_good_failing_garbage_and_hanging(tmp_path: Path) -> None:
    assert CommandMeter(_script(tmp_path, "good", "echo 'power: 3.25 W'")).power_w() == 3.25
    bad = {
        "fails": ("echo 2.0; exit 3", "exited with code 3"),
        "garbage": ("echo 'no reading'", "printed no number"),
        "hangs": ("sleep 30", "no answer within"),
    }
    for name, (body, message) in bad.items():
        with pytest.raises(MeterError, match=message):
            CommandMeter(_script(tmp_path, name, body), timeout_s=0.5).power_w()


def test_power_command_end_to_end(tmp_path: Path) -> None:
    good = _script(tmp_path, "good", "echo 4.0")
    hangs = _script(tmp_path, "hangs", "sleep 30")
    results = {}
    for label, cmd in (("good", good), ("hangs", hangs)):
        r = run_cli(
            "run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights", "random",
            "--min-duration", "0.5", "--idle-s", "0.2", "--power-cmd", cmd, "--power-hz", "5",
            "--json", "--db", str(tmp_path / "r.db"), cwd=tmp_path, env=cli_env(tmp_path / "c"),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        (results[label],) = json.loads(r.stdout)
    good_rec, hang_rec = results["good"], results["hangs"]
    assert good_rec["power_source"] == f"command({good})"
    assert good_rec["power_w"]["avg"] == pytest.approx(4.0) and good_rec["power_w"]["net"] == 0.0
    assert good_rec["inf_per_j"] > 0
    # A meter that hangs costs the power figures, never the latency measurement.
    assert hang_rec["status"] == "ok" and hang_rec["latency_ms"]["p50"] > 0
    assert hang_rec["power_w"] is None and "no answer within" in hang_rec["power_source"]


def test_this_host_reports_none_with_frequency_where_readable(tmp_path: Path) -> None:
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--weights", "random",
        "--min-duration", "0.3", "--json", "--db", str(tmp_path / "r.db"),
        cwd=tmp_path, env=cli_env(tmp_path / "c"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    (rec,) = json.loads(r.stdout)
    if rec["power_w"] is None:
        assert rec["power_source"].startswith("none (")
    else:  # a host with RAPL or a GPU
        assert rec["power_w"]["avg"] > 0
    readable = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq").exists() or (
        "cpu MHz" in Path("/proc/cpuinfo").read_text()
    )
    assert (rec["cpu_freq_mhz"] is not None) == readable


def test_nvml_where_a_gpu_is_present() -> None:
    pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py not installed (edgebench[gpu])")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        pytest.skip(f"no NVIDIA driver or GPU here: {exc}")
    from edgebench.telemetry.meters import NvmlMeter

    meter = NvmlMeter()
    watts = meter.power_w()
    assert 1 < watts < 2000
    state = meter.gpu_state()
    assert state["sm_clock_mhz"] > 0 and state["memory_used_mb"] >= 0
    meter.close()
