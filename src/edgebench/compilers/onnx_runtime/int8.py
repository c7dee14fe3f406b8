"""ONNX Runtime's static QDQ int8 on graphs other tools exported.

Third-party ONNX files trip ORT's quantizer in ways edgebench's own exports do not: graphs at
opset 10-12 come out with per-channel DequantizeLinear nodes those opsets do not allow (ORT
then refuses to load the quantized model, after the whole calibration); symbolic shapes stop
`quant_pre_process`. So, in order:

1. a graph below opset 13 is upgraded to 13 (onnx.version_converter), as ORT's docs advise;
2. `quant_pre_process` (shape inference and ORT's graph optimization) where it succeeds;
3. a probe: the graph is quantized on one calibration sample, per channel, then per tensor,
   and each result is loaded in ONNX Runtime; the first that loads is the mode used;
4. the full calibration, in that mode.

A graph that cannot be made into a loadable int8 model is refused in seconds with the
quantizer's or ORT's own line, before the long calibration.

Some models lose their accuracy to int8 whatever the quantizer does. To tell those from a
quantizer's fault, the build also rounds the weights alone to the same grid (per channel or per
tensor, 8 or 7 bits), keeps every activation in float, and stores how far that model's outputs
are from the float model's on the calibration samples (`weights_alone_snr_db`): when that is
already below the fidelity floor, no int8 activation scheme can bring the outputs back.
"""

from __future__ import annotations

import platform
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers.base import CompileRequest
from edgebench.errors import UnsupportedPrecision

MIN_OPSET = 13  # per-channel (axis) quantization in QuantizeLinear/DequantizeLinear


class CalibrationReader:
    """onnxruntime's CalibrationDataReader protocol over edgebench's calibration batches."""

    def __init__(self, request: CompileRequest, names: list[str], limit: int | None = None):
        self._it: Iterator[list[np.ndarray]] = request.calibration.batched(request.batch_size or 1)
        self._names, self._left = names, limit

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._left is not None:
            if self._left <= 0:
                return None
            self._left -= 1
        batch = next(self._it, None)
        return None if batch is None else dict(zip(self._names, batch, strict=True))

    def rewind(self) -> None:  # part of the protocol; one pass is all calibration needs
        pass


def _line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {(lines[-1] if lines else '')[:240]}"


def prepare(src: Path, work: Path, info: dict[str, Any], warnings: list[str]) -> Path:
    """The graph made ready for the quantizer: opset upgraded, pre-processed where possible."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    current = src
    if opset is not None and opset < MIN_OPSET:
        try:
            upgraded = onnx.version_converter.convert_version(model, MIN_OPSET)
            current = work / "upgraded.onnx"
            onnx.save(upgraded, str(current))
            info["opset_upgraded"] = f"{opset} -> {MIN_OPSET}"
        except Exception as exc:  # noqa: BLE001 - the quantizer may still manage: say so
            warnings.append(f"opset {opset} kept: the upgrade to {MIN_OPSET} failed ({_line(exc)})")
    prepared = work / "prepared.onnx"
    try:
        quant_pre_process(str(current), str(prepared), skip_symbolic_shape=True)
        return prepared
    except Exception as exc:  # noqa: BLE001 - quantize the graph as it is
        warnings.append(f"quant_pre_process skipped ({_line(exc)})")
        return current


def host_lacks_vnni() -> bool:
    """An x86 CPU without VNNI (AVX2, or AVX-512 before Cascade Lake): its u8 x s8 dot
    products (vpmaddubsw) saturate, which costs int8 models with 8-bit weights accuracy."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])  # fmt: skip
    return not any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def auto_weights() -> str:
    """What `ort_int8_weights=auto` means on this host: s7 where it lacks VNNI, else s8."""
    return "s7" if host_lacks_vnni() else "s8"


def _quantize(
    source: Path, out: Path, reader: CalibrationReader, per_channel: bool, act: str, s7: bool
) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(
        str(source),
        str(out),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=QuantType.QUInt8 if act == "u8" else QuantType.QInt8,
        weight_type=QuantType.QInt8,
        reduce_range=s7,
    )


# The weight input of each op ORT quantizes per channel, and its output-channel axis.
_WEIGHT_AXIS = {"Conv": 0, "ConvTranspose": 1, "MatMul": -1, "Gemm": 0}


def _round_weights(model: Any, per_channel: bool, bits: int) -> int:
    """Rounds, in place, the constant weights of Conv, ConvTranspose, MatMul and Gemm to a
    symmetric grid of `bits` bits (QInt8 weights are symmetric in ORT); returns how many."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    qmax = 2 ** (bits - 1) - 1
    done = 0
    for node in model.graph.node:
        if node.op_type not in _WEIGHT_AXIS or len(node.input) < 2:
            continue
        init = inits.get(node.input[1])
        if init is None:
            continue
        w = numpy_helper.to_array(init)
        if w.dtype != np.float32 or w.ndim < 2:
            continue
        axis = _WEIGHT_AXIS[node.op_type]
        if node.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in node.attribute):
            axis = 1
        if per_channel:
            moved = np.moveaxis(w, axis, 0)
            peak = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
            scale = np.moveaxis(peak.reshape(-1, *[1] * (w.ndim - 1)), 0, axis) / qmax
        else:
            scale = np.array(np.abs(w).max() / qmax)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        rounded = (np.clip(np.round(w / scale), -qmax, qmax) * scale).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(rounded, init.name))
        done += 1
    return done


def weights_alone_snr_db(
    source: Path, request: CompileRequest, names: list[str], per_channel: bool, bits: int
) -> float | None:
    """SNR in dB of the model with only its weights rounded to int8, against the float model,
    on up to 8 calibration samples; None when no weight could be rounded or nothing changed."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(source))
    if not _round_weights(model, per_channel, bits):
        return None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    providers = ["CPUExecutionProvider"]
    exact = ort.InferenceSession(str(source), options, providers=providers)
    rounded = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
    signal = noise = 0.0
    reader = CalibrationReader(request, names, limit=8)
    while (feed := reader.get_next()) is not None:
        for a, b in zip(exact.run(None, feed), rounded.run(None, feed), strict=True):
            a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
            signal += float(np.sum(a64**2))
            noise += float(np.sum((a64 - b64) ** 2))
    return 10 * float(np.log10(signal / noise)) if signal > 0 and noise > 0 else None


def _loads(path: Path) -> None:
    import onnxruntime as ort

    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def quantize(
    request: CompileRequest, src: Path, out: Path, act: str, weights: str = "auto"
) -> dict[str, Any]:
    """Static QDQ int8 of `src` into `out`; returns what was done (for the artifact's info).
    `weights`: s8, s7, or auto (s7 on an x86 host without VNNI)."""
    from edgebench.compilers.onnx_runtime import input_names

    s7 = (auto_weights() if weights == "auto" else weights) == "s7"

    info: dict[str, Any] = {}
    warnings: list[str] = []
    work = out.parent / "int8-work"
    work.mkdir(exist_ok=True)
    source = prepare(src, work, info, warnings)
    names = input_names(source)
    tried: list[str] = []
    chosen = None
    for per_channel in (True, False):
        probe = work / "probe.onnx"
        try:
            reader = CalibrationReader(request, names, limit=1)
            _quantize(source, probe, reader, per_channel, act, s7)
            _loads(probe)
            chosen = per_channel
            break
        except Exception as exc:  # noqa: BLE001 - the quantizer's or ORT's own reason
            tried.append(f"{'per channel' if per_channel else 'per tensor'}: {_line(exc)}")
    if chosen is None:
        shutil.rmtree(work, ignore_errors=True)
        raise UnsupportedPrecision(
            "ONNX Runtime cannot make a loadable static int8 model of this graph ("
            + "; ".join(tried)
            + ")"
        )
    if not chosen:
        warnings.append(f"int8 per tensor: per channel did not load ({tried[0]})")
    _quantize(source, out, CalibrationReader(request, names), chosen, act, s7)
    try:
        alone = weights_alone_snr_db(source, request, names, chosen, 7 if s7 else 8)
    except Exception as exc:  # noqa: BLE001 - a diagnosis only: the int8 model stands
        alone = None
        warnings.append(f"the weights-alone check did not run ({_line(exc)})")
    from edgebench.results import MIN_SNR_DB

    if alone is not None and alone < MIN_SNR_DB["int8"]:
        warnings.append(
            f"int8-sensitive model: its weights alone rounded to int8 give {alone:.1f} dB "
            f"against fp32 (fidelity floor {MIN_SNR_DB['int8']:g} dB), before any activation "
            "is quantized: expect the same from any int8 quantizer of this graph"
        )
    shutil.rmtree(work, ignore_errors=True)
    info["int8"] = {
        "format": "QDQ",
        "per_channel": chosen,
        "activations": act,
        "weights": "s7" if s7 else "s8",
        "weights_alone_snr_db": None if alone is None else round(alone, 1),
    }
    info["warnings"] = warnings
    return info


__all__ = ["CalibrationReader", "auto_weights", "host_lacks_vnni", "prepare", "quantize"]
