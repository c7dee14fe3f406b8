"""Power, energy, frequency and temperature, from the sensors the host already has.

Meters are found by probing (`detect`): NVML for NVIDIA GPUs, Linux powercap/RAPL for CPU
package energy (Intel and AMD), INA3221 rails on Jetson boards, or an external meter through a
command that prints watts. A host with none gets null power figures and the reason, never zeros.
Every reader takes a sysfs root, so tests drive the real code over a fake tree.
"""

from edgebench.telemetry.meters import Meter, MeterError, describe_meters, detect
from edgebench.telemetry.sampler import Telemetry

__all__ = ["Meter", "MeterError", "Telemetry", "describe_meters", "detect"]
