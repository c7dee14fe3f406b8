"""Typed result records. Field names are part of edgebench's interface (JSON, CSV, the store)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from edgebench.stats import LatencyStats, summarize

Status = Literal["ok", "failed", "unsupported", "skipped"]
STATUSES: tuple[str, ...] = ("ok", "failed", "unsupported", "skipped")


# Cells with these statuses are done: a resumed run does not measure them again. A failed cell
# runs again, and its new row is appended (readers keep the latest row of a cell).
COMPLETED_STATUSES: tuple[str, ...] = ("ok", "unsupported", "skipped")
# Above this share of all cores taken by other processes while a cell was timed, the cell is
# flagged as noisy (a warning, a mark in reports; `compare` will not fail a gate on it).
NOISY_PCT = 10.0
# Above this change of speed within one timed window (the last fifth of the runs against the
# first, paired.window_drift), the host drifted while the cell was timed: flagged as noise is
DRIFT_PCT = 10.0
# Fidelity a cell must reach to count as agreeing with its FP32 reference: top-1 agreement
# where the outputs are class scores, otherwise the signal-to-noise ratio of the outputs
# against the reference's (quantized precisions are allowed more noise).
MIN_AGREEMENT = 0.9
MIN_SNR_DB = {
    "int8": 10.0, "int8-dynamic": 10.0, "int8-weights": 10.0, "int4-weights": 10.0,
    "int8x16": 10.0,
}  # fmt: skip
MIN_SNR_DB_FLOAT = 20.0


CellKey = tuple[str, str, str, str, int, int, str | None, str]


def cell_key(
    model: str,
    weights: str,
    compiler: str,
    precision: str,
    batch_size: int,
    threads: int,
    model_digest: str | None,
    accelerator: str,
) -> CellKey:
    """What identifies a cell within a run; CellResult.key() and the runner's own bookkeeping
    (which cells a resumed run still needs) both build it here."""
    return (model, weights, compiler, precision, batch_size, threads, model_digest, accelerator)


@dataclass
class CellResult:
    """One measured cell: model x compiler x precision x batch size x threads.

    `latency_samples_ms` keeps every timed run so any statistic can be derived again later.
    """

    run_id: str
    model: str
    weights: str
    compiler: str
    precision: str
    batch_size: int
    threads: int
    status: Status
    error: str | None = None
    # The framework's whole message where `error`, one line for terminals, leaves some out
    # (`edgebench results --run ID --cell N` prints it)
    error_detail: str | None = None
    # What ran the model: cpu, gpu or npu (compilers/base.py ACCELERATORS)
    accelerator: str = "cpu"
    # How images became an image input, and where that came from (the file's metadata, the
    # user's --input-range, edgebench's default); None for a model with no image input
    preprocessing: str | None = None
    # Per timed run: the inference alone where the runtime lets the harness copy inputs in
    # and outputs out apart (LiteRT, ONNX Runtime, OpenVINO: then `io_ms` holds the copies),
    # else the whole predict call.
    latency_ms: LatencyStats | None = None
    throughput_ips: float | None = None
    n_runs: int | None = None
    duration_s: float | None = None
    model_size_mb: float | None = None
    # The artifact after gzip -9: what a device downloads and stores (pruned and clustered
    # weights shrink here, not on disk)
    model_size_gzip_mb: float | None = None
    convert_s: float | None = None
    load_s: float | None = None
    first_inference_ms: float | None = None
    peak_rss_mb: float | None = None
    noise_cpu_pct: float | None = None
    # How the timed window's speed moved: the last fifth of its runs against the first, in %
    # (+12: they took 12% longer); None with fewer than 10 runs
    window_drift_pct: float | None = None
    # How fast the host was around the window: {"reference_ms": [before, after], "steal_pct"}
    # (harness/noise.py: the same reference work timed before and after the cell)
    host_speed: dict[str, Any] | None = None
    # Where a busy window was measured again once the host was quieter: every window (p50,
    # foreign CPU, drift, reference time, which one was kept); None when one was enough
    busy_windows: list[dict[str, Any]] | None = None
    artifact_path: str | None = None
    system: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    artifact_info: dict[str, Any] = field(default_factory=dict)  # e.g. calibration used
    convert_steps: list[dict[str, Any]] = field(default_factory=list)
    cache_hit: bool | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)  # shapes and dtypes
    accuracy: dict[str, Any] | None = None  # top1/top5 or map/map50, with labels and real weights
    fidelity: dict[str, Any] | None = None  # agreement with the FP32 framework reference
    loadgen: dict[str, Any] | None = None  # MLPerf LoadGen scenario and its own figures
    power_w: dict[str, float | None] | None = None  # avg, peak, idle, net; None without a meter
    energy_j_per_inf: float | None = None  # joules per image over the timed window
    inf_per_j: float | None = None  # images per joule
    power_source: str | None = None  # the meter, or "none (<reason>)"
    cpu_freq_mhz: dict[str, float] | None = None  # min, avg over the window
    temp_c: dict[str, float] | None = None  # max over the window
    throttled: bool | None = None
    telemetry: dict[str, Any] | None = None  # sampling rate, samples, sampler CPU, power series
    drift: dict[str, Any] | None = None  # with --sustain-s: first against last tenth
    runtime_metrics: dict[str, Any] | None = None  # the runtime's own figures (TensorRT's split)
    explain: dict[str, Any] | None = None  # `edgebench explain`: graph, fusions, placement, op time
    # Where it was measured when not on this host: the target's name, kind, address (no
    # secret), architecture, whether its CPU is emulated, the host it was converted on, and
    # what going remote cost (connect, copy, agent); None for a cell measured here.
    target: dict[str, Any] | None = None
    # Measured by a fleet (Dask workers): the worker, when its measurement started and ended
    # (Unix seconds) and the attempt it took; None for a run on this machine alone.
    fleet: dict[str, Any] | None = None
    io_ms: dict[str, float] | None = None  # the copies in and out per run: p50, mean, p99
    # A cell of `edgebench tune`: its round (precisions, knobs, full), the candidate, and the
    # run it was reused from when it was not measured again
    tune: dict[str, Any] | None = None
    # A model file's content digest (16 hex digits): two files of one name are two models;
    # None for a zoo model
    model_digest: str | None = None
    # What the accelerator was and what it took, as measured, never assumed: its device
    # (adapter name and type, `software` for a CPU posing as a GPU or NPU), ops and
    # partitions it ran, what fell back to the CPU; None for a plain CPU cell
    accelerator_info: dict[str, Any] | None = None
    latency_samples_ms: list[float] = field(default_factory=list)

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    def key(self) -> CellKey:
        """What identifies a cell within a run (a model file by its content too)."""
        return cell_key(
            self.model, self.weights, self.compiler, self.precision, self.batch_size,
            self.threads, self.model_digest, self.accelerator,
        )  # fmt: skip

    @property
    def fidelity_failed(self) -> bool:
        """Its outputs fell below the fidelity floor against the FP32 reference."""
        return bool((self.fidelity or {}).get("failed"))

    @property
    def software_device(self) -> bool:
        """Measured on a software device posing as an accelerator (Mesa's llvmpipe for a
        GPU, OpenVINO's CPU behind LiteRT's NPU dispatch): never comparable with a real one."""
        return bool((self.accelerator_info or {}).get("software"))

    @property
    def target_name(self) -> str:
        """The target it was measured on (`local` for this host)."""
        return str((self.target or {}).get("name", "local"))

    @property
    def emulated(self) -> bool:
        return bool((self.target or {}).get("emulated"))

    def resume_key(self) -> tuple[Any, ...]:
        """What identifies a cell when a run is resumed: its key(), its LoadGen scenario, the
        target it runs on and its compiler's options (two grids, or two candidates of a
        tune, may differ only there)."""
        return (
            *self.key(),
            (self.loadgen or {}).get("scenario"),
            self.target_name,
            options_key(self.options),
        )

    @property
    def noisy(self) -> bool:
        return self.noise_cpu_pct is not None and self.noise_cpu_pct > NOISY_PCT

    @property
    def host_reference_ms(self) -> float | None:
        """The reference workload's time around this cell (the mean of before and after):
        the host's speed when it was measured; None for a cell that does not record it."""
        ref = (self.host_speed or {}).get("reference_ms") or []
        return sum(ref) / len(ref) if ref else None

    @property
    def drifted(self) -> bool:
        """The host's speed moved by more than DRIFT_PCT within the timed window."""
        return self.window_drift_pct is not None and abs(self.window_drift_pct) > DRIFT_PCT

    def to_dict(self, samples: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not samples:
            data.pop("latency_samples_ms")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        data = dict(data)
        lat = data.get("latency_ms")
        data["latency_ms"] = LatencyStats(**lat) if lat else None
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_samples(self, samples_ms: list[float], batch_size: int, window_s: float) -> None:
        """Fills the latency statistics and throughput from the raw samples of a timed window."""
        self.latency_samples_ms = samples_ms
        self.latency_ms = summarize(samples_ms)
        self.n_runs = len(samples_ms)
        self.duration_s = window_s
        self.throughput_ips = batch_size * len(samples_ms) / window_s if window_s > 0 else None


def fidelity_verdict(cell: CellResult) -> str | None:
    """Why a measured cell's outputs do not count as agreeing, or None when they do (or when
    there is no reference to agree with: the model's own fp32 run is its reference)."""
    fid = cell.fidelity
    if not fid:
        return None
    if fid.get("error"):
        # No figure, and the cell's own runtime is the reference (a .tflite file under LiteRT
        # fp32 whose outputs do not vary on random inputs): there was nothing to disagree with.
        own = fid.get("reference") == f"{cell.compiler} {cell.precision}"
        return None if own else str(fid["error"])
    agree = fid.get("top1_agreement", fid.get("detection_agreement"))
    if isinstance(agree, (int, float)):
        return None if agree >= MIN_AGREEMENT else f"agreement {agree:.2f} < {MIN_AGREEMENT}"
    snr = fid.get("snr_db")
    floor = MIN_SNR_DB.get(cell.precision, MIN_SNR_DB_FLOAT)
    if snr is None or snr >= floor:  # None: identical outputs
        return None
    why = f"SNR {snr:.1f} dB < {floor:g} dB"
    alone = (cell.artifact_info.get("int8") or {}).get("weights_alone_snr_db")
    if isinstance(alone, (int, float)) and alone < floor:
        why += (
            f"; its weights alone rounded to int8 already give {alone:.1f} dB: the model, "
            "not the quantizer, is int8-sensitive"
        )
    elif isinstance(alone, (int, float)):
        why += (
            f"; its weights alone rounded to int8 give {alone:.1f} dB: the rest is lost to "
            "the activations' 8-bit ranges"
        )
    return why


def distinct_models(cells: Sequence[CellResult]) -> list[CellResult]:
    """The cells, with `name@digest` as the model of those whose name is shared by model files
    of different content (`a/model.onnx` and `b/model.onnx`), so that tables, reports and
    comparisons never show two models as one."""
    digests: dict[str, set[str | None]] = {}
    for c in cells:
        digests.setdefault(c.model, set()).add(c.model_digest)
    return [
        replace(c, model=f"{c.model}@{c.model_digest[:8]}")
        if len(digests[c.model]) > 1 and c.model_digest
        else c
        for c in cells
    ]


def options_key(options: dict[str, Any]) -> str:
    """A compiler's options as one comparable string (for keys)."""
    return json.dumps(options, sort_keys=True, default=str)


def latest_cells(cells: Iterable[CellResult]) -> list[CellResult]:
    """The last row of each cell of each run, in first-seen order (a resumed run may hold a
    failed row and, later, the row of its re-run)."""
    latest: dict[tuple[Any, ...], CellResult] = {}
    for c in cells:
        latest[(c.run_id, *c.resume_key())] = c  # a dict keeps the first position
    return list(latest.values())
