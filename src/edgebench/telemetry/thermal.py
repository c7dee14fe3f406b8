"""CPU frequency (cpufreq), temperatures (thermal zones and hwmon) and throttle counters."""

from __future__ import annotations

from pathlib import Path


def _ints(paths: list[Path]) -> list[int]:
    values = []
    for p in paths:
        try:
            values.append(int(p.read_text().strip()))
        except (OSError, ValueError):
            continue
    return values


class ThermalReader:
    """Reads what exists; a host without a given file simply has no figure for it."""

    def __init__(self, root: Path) -> None:
        cpu = root / "sys/devices/system/cpu"
        self.freq_files = sorted(cpu.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"))
        self.max_freq_files = sorted(cpu.glob("cpu[0-9]*/cpufreq/cpuinfo_max_freq"))
        self.throttle_files = sorted(cpu.glob("cpu[0-9]*/thermal_throttle/*_throttle_count"))
        # Virtual machines often have no cpufreq; /proc/cpuinfo still reports each core's clock.
        self.cpuinfo = root / "proc/cpuinfo"
        self.temp_files = sorted((root / "sys/class/thermal").glob("thermal_zone*/temp")) + sorted(
            (root / "sys/class/hwmon").glob("hwmon*/temp*_input")
        )

    def freqs_mhz(self) -> list[float]:
        if self.freq_files:
            return [khz / 1000 for khz in _ints(self.freq_files)]
        try:
            lines = self.cpuinfo.read_text().splitlines()
        except OSError:
            return []
        values = []
        for line in lines:
            key, sep, value = line.partition(":")
            if sep and key.strip() == "cpu MHz":
                try:
                    values.append(float(value))
                except ValueError:
                    continue
        return values

    def max_freq_mhz(self) -> float | None:
        values = _ints(self.max_freq_files)
        return max(values) / 1000 if values else None

    def temps_c(self) -> list[float]:
        return [milli / 1000 for milli in _ints(self.temp_files)]

    def throttle_count(self) -> int | None:
        values = _ints(self.throttle_files)
        return sum(values) if values else None

    def missing(self) -> str:
        parts = []
        if not self.freq_files and not self.freqs_mhz():
            parts.append("no cpufreq or cpu MHz")
        if not self.temp_files:
            parts.append("no thermal zones or hwmon temperatures")
        return ", ".join(parts)
