"""Power meters. Each reports either a cumulative energy counter (joules) or instant power
(watts); the sampler turns both into average and peak power over a window."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path


class MeterError(Exception):
    """A meter could not be read; the cell's power figures become null with this reason."""


def sysfs_root() -> Path:
    """Where /sys is: `EDGEBENCH_SYSFS_ROOT` points the readers at a fake tree in tests."""
    return Path(os.environ.get("EDGEBENCH_SYSFS_ROOT", "/"))


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise MeterError(f"cannot read {path}: {exc}") from exc


class Meter:
    """A power source. `energy_j()` (cumulative) or `power_w()` (instant), per `kind`."""

    name: str = "meter"
    kind: str = "power"  # "energy": a cumulative counter; "power": an instant reading

    def energy_j(self) -> float:
        raise NotImplementedError

    def power_w(self) -> float:
        raise NotImplementedError

    def close(self) -> None:
        """Releases what the meter holds (NVML's handle); most hold nothing."""


@dataclass
class _RaplDomain:
    path: Path
    max_range_uj: int
    last_uj: int
    total_uj: int = 0


class RaplMeter(Meter):
    """CPU package energy from powercap (intel-rapl; AMD's driver uses the same interface).

    The counter wraps at `max_energy_range_uj`: a reading below the last one means it wrapped
    once since (the sampler reads often enough that it cannot wrap twice)."""

    kind = "energy"

    def __init__(self, root: Path | None = None) -> None:
        base = (root or sysfs_root()) / "sys/class/powercap"
        packages = sorted(
            p
            for p in base.glob("*rapl:*")
            if re.fullmatch(r"[a-z-]*rapl:\d+", p.name) and (p / "energy_uj").exists()
        )
        if not packages:
            raise MeterError(f"no RAPL package domains under {base}")
        self.domains = [
            _RaplDomain(p, _read_int(p / "max_energy_range_uj"), _read_int(p / "energy_uj"))
            for p in packages
        ]
        self.name = "rapl(" + ",".join(_domain_name(d.path) for d in self.domains) + ")"

    def energy_j(self) -> float:
        for d in self.domains:
            now = _read_int(d.path / "energy_uj")
            delta = now - d.last_uj
            if delta < 0:  # wrapped around
                delta += d.max_range_uj
            d.total_uj += delta
            d.last_uj = now
        return sum(d.total_uj for d in self.domains) / 1e6


def _domain_name(path: Path) -> str:
    try:
        return (path / "name").read_text().strip()
    except OSError:
        return path.name


class Ina3221Meter(Meter):
    """Jetson power rails on INA3221 monitors: hwmon `in<N>_input` (mV) x `curr<N>_input` (mA),
    or the older iio `in_power<N>_input` (mW). Sums every rail: the board's input power."""

    def __init__(self, root: Path | None = None) -> None:
        root = root or sysfs_root()
        self.rails: list[tuple[str, Path, Path | None]] = []  # (label, mV or mW file, mA file)
        for hw in sorted((root / "sys/class/hwmon").glob("hwmon*")):
            name = (hw / "name").read_text().strip() if (hw / "name").exists() else ""
            if name != "ina3221":
                continue
            for volt in sorted(hw.glob("in[0-9]*_input")):
                k = volt.name[2:].split("_")[0]
                curr = hw / f"curr{k}_input"
                if curr.exists():
                    label_file = hw / f"in{k}_label"
                    label = label_file.read_text().strip() if label_file.exists() else f"in{k}"
                    self.rails.append((label, volt, curr))
        for power in sorted(
            root.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*/in_power*_input")
        ):
            self.rails.append((power.name, power, None))
        if not self.rails:
            raise MeterError("no INA3221 power rails found")
        self.name = "ina3221(" + ",".join(label for label, _, _ in self.rails) + ")"

    def power_w(self) -> float:
        total = 0.0
        for _, first, curr in self.rails:
            if curr is None:
                total += _read_int(first) / 1e3  # mW
            else:
                total += _read_int(first) * _read_int(curr) / 1e6  # mV x mA
        return total


# Words a shell would read as operators: a meter command is run as a program with arguments,
# never by a shell, so in it they would only reach the program as arguments (`touch X; echo
# 1.0` would touch files named 'X;', 'echo' and '1.0').
_SHELL_WORDS = re.compile(r"^(;|&&?|\|\|?|<|>>?|\d?>&?\d?)$|[;`]|\$\(|\|\||&&")


def meter_argv(command: str) -> list[str]:
    """A meter command as the program and arguments it runs with (no shell).

    Raises:
        ValueError: one line on what is wrong: quotes, shell syntax, a program not found.
    """
    import shutil

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"power command {command!r}: {exc}") from None
    if not argv:
        raise ValueError("the power command is empty")
    shell = [word for word in argv if _SHELL_WORDS.search(word)]
    if shell:
        raise ValueError(
            f"power command {command!r}: {shell[0]!r} is shell syntax, but the command runs as "
            "a program with arguments, never through a shell; put a pipeline in a script and "
            "give the script"
        )
    if shutil.which(argv[0]) is None:
        raise ValueError(f"power command {command!r}: no program {argv[0]!r} here")
    return argv


class CommandMeter(Meter):
    """An external meter: a command that prints the current power in watts (USB meters, lab
    supplies). It must answer within `timeout_s`."""

    def __init__(self, command: str, timeout_s: float = 2.0) -> None:
        self.command, self.timeout_s = command, timeout_s
        self.name = f"command({command})"

    def power_w(self) -> float:
        try:
            out = subprocess.run(
                meter_argv(self.command),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise MeterError(f"--power-cmd gave no answer within {self.timeout_s:g} s") from None
        except (OSError, ValueError) as exc:
            raise MeterError(f"--power-cmd could not run: {exc}") from exc
        if out.returncode != 0:
            raise MeterError(f"--power-cmd exited with code {out.returncode}")
        match = re.search(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", out.stdout)
        if match is None:
            raise MeterError(f"--power-cmd printed no number of watts: {out.stdout.strip()[:60]!r}")
        watts = float(match.group())
        if watts < 0:
            raise MeterError(f"--power-cmd printed a negative power: {watts}")
        return watts


class NvmlMeter(Meter):
    """NVIDIA GPU power through NVML: the total-energy counter where the GPU has one
    (Volta and newer), else instant power. Imports pynvml only here."""

    def __init__(self, index: int = 0) -> None:
        try:
            import pynvml
        except ImportError:
            raise MeterError(
                "nvidia-ml-py is not installed (pip install 'edgebench[gpu]')"
            ) from None
        try:
            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpu = pynvml.nvmlDeviceGetName(self.handle)
        except pynvml.NVMLError as exc:
            raise MeterError(f"NVML: {exc}") from exc
        self._nvml = pynvml
        self.name = f"nvml({gpu.decode() if isinstance(gpu, bytes) else gpu})"
        try:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            self.kind = "energy"
        except pynvml.NVMLError:
            self.kind = "power"

    def energy_j(self) -> float:
        return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)) / 1e3  # mJ

    def power_w(self) -> float:
        return float(self._nvml.nvmlDeviceGetPowerUsage(self.handle)) / 1e3  # mW

    def gpu_state(self) -> dict[str, float]:
        n = self._nvml
        return {
            "sm_clock_mhz": float(n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_SM)),
            "mem_clock_mhz": float(n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_MEM)),
            "temp_c": float(n.nvmlDeviceGetTemperature(self.handle, n.NVML_TEMPERATURE_GPU)),
            "memory_used_mb": n.nvmlDeviceGetMemoryInfo(self.handle).used / 2**20,
        }

    def close(self) -> None:
        self._nvml.nvmlShutdown()


def detect(power_cmd: str | None = None, root: Path | None = None) -> tuple[list[Meter], list[str]]:
    """The meters this host has, and why each of the others is missing.

    An explicit `--power-cmd` is the only meter used when given: it is what the user trusts.
    """
    if power_cmd:
        return [CommandMeter(power_cmd)], []
    meters: list[Meter] = []
    reasons: list[str] = []
    for make in (NvmlMeter, lambda: RaplMeter(root), lambda: Ina3221Meter(root)):
        try:
            meters.append(make())
        except MeterError as exc:
            reasons.append(str(exc))
    return meters, reasons


def describe_meters(power_cmd: str | None = None) -> list[tuple[str, str]]:
    """(meter, status) rows for `edgebench sysinfo`."""
    rows = []
    for label, make in (
        ("nvml", NvmlMeter),
        ("rapl", RaplMeter),
        ("ina3221", Ina3221Meter),
    ):
        try:
            meter = make()
            rows.append((label, f"available: {meter.name}"))
            meter.close()
        except MeterError as exc:
            rows.append((label, f"unavailable: {exc}"))
    rows.append(("command", f"given: {power_cmd}" if power_cmd else "unused (--power-cmd CMD)"))
    return rows
