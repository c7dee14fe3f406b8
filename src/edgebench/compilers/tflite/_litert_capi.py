"""Per-op profiling of a .tflite model through LiteRT's own profiler, from Python (ctypes).

Neither ai_edge_litert.interpreter.Interpreter nor ai_edge_litert.compiled_model
expose a profiler, and the pybind CompiledModel lives in a *separate* statically
linked copy of LiteRT (libpywrap_litert_common.so), so its handles cannot be
used with libLiteRt.so.  This module therefore drives the public LiteRT C API
exported by ai_edge_litert/libLiteRt.so directly with ctypes:

  LiteRtCreateEnvironment -> LiteRtCreateModelFromFile -> LiteRtCreateOptions
  -> LiteRtSetOptionsHardwareAccelerators(CPU)
  -> LiteRtCreateOpaqueOptions("runtime_options_string", "enable_profiling = true\n")
  -> LiteRtCreateOpaqueOptions("xnnpack", 'num_threads = N\n[kernel_mode = "builtin"\n]')
  -> LiteRtAddOpaqueOptions x2 -> LiteRtCreateCompiledModel
  -> LiteRtCompiledModelGetProfiler (owned by the compiled model)
  -> buffers: LiteRtGetModelSignature / LiteRtGetSignature{Input,Output}TensorByIndex
     / LiteRtGetRankedTensorType + LiteRtGetCompiledModel{InputTensorLayout,
     OutputTensorLayouts} / LiteRtGetCompiledModel{Input,Output}BufferRequirements
     / LiteRtCreateManagedTensorBufferFromRequirements / Lock / Unlock
  -> LiteRtRunCompiledModel (warm-up) -> LiteRtResetProfiler -> LiteRtStartProfiler
  -> runs x LiteRtRunCompiledModel (each timed with perf_counter)
  -> LiteRtStopProfiler -> LiteRtGetNumProfilerEvents -> LiteRtGetProfilerEvents
  -> destroy everything (the profiler itself is owned by the compiled model).

Verified against ai-edge-litert 2.3.0 (libLiteRt.so, VERS_1.0 symbols).
"""

from __future__ import annotations

import contextlib
import ctypes as C
import os
import statistics
import tempfile
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from edgebench.explain.profile import ProfileUnavailable

__all__ = ["profile_ops", "ProfileUnavailable", "find_liblitert"]


# --------------------------------------------------------------------------
# Library loading
# --------------------------------------------------------------------------

_REQUIRED = (
    "LiteRtCreateEnvironment",
    "LiteRtDestroyEnvironment",
    "LiteRtCreateModelFromFile",
    "LiteRtDestroyModel",
    "LiteRtCreateOptions",
    "LiteRtDestroyOptions",
    "LiteRtSetOptionsHardwareAccelerators",
    "LiteRtCreateOpaqueOptions",
    "LiteRtAddOpaqueOptions",
    "LiteRtCreateCompiledModel",
    "LiteRtDestroyCompiledModel",
    "LiteRtCompiledModelGetProfiler",
    "LiteRtGetModelSignature",
    "LiteRtGetNumSignatureInputs",
    "LiteRtGetNumSignatureOutputs",
    "LiteRtGetSignatureInputName",
    "LiteRtGetSignatureOutputName",
    "LiteRtGetSignatureInputTensorByIndex",
    "LiteRtGetSignatureOutputTensorByIndex",
    "LiteRtGetRankedTensorType",
    "LiteRtGetCompiledModelInputTensorLayout",
    "LiteRtGetCompiledModelOutputTensorLayouts",
    "LiteRtGetCompiledModelInputBufferRequirements",
    "LiteRtGetCompiledModelOutputBufferRequirements",
    "LiteRtCreateManagedTensorBufferFromRequirements",
    "LiteRtDestroyTensorBuffer",
    "LiteRtGetTensorBufferSize",
    "LiteRtLockTensorBuffer",
    "LiteRtUnlockTensorBuffer",
    "LiteRtRunCompiledModel",
    "LiteRtStartProfiler",
    "LiteRtStopProfiler",
    "LiteRtResetProfiler",
    "LiteRtGetNumProfilerEvents",
    "LiteRtGetProfilerEvents",
)

_P = C.c_void_p
_SZ = C.c_size_t


class _Layout(C.Structure):  # litert_layout.h: 68 bytes
    _fields_ = [
        ("rank_bits", C.c_uint32),  # rank:7, has_strides:1
        ("dims", C.c_int32 * 8),
        ("strides", C.c_uint32 * 8),
    ]

    @property
    def shape(self):
        return tuple(self.dims[: self.rank_bits & 0x7F])


class _RankedTensorType(C.Structure):  # 72 bytes
    _fields_ = [("element_type", C.c_int), ("layout", _Layout)]


class _MemoryUsage(C.Structure):
    # The library is C++ and fills tflite::profiling::memory::MemoryUsage
    # (int64 mem_footprint_kb, size_t total_allocated_bytes, size_t
    # in_use_allocated_bytes = 24 bytes), NOT the 16-byte LiteRtMemoryUsage of
    # the C header.  Using the C header's layout corrupts the heap.
    _fields_ = [
        ("mem_footprint_kb", C.c_int64),
        ("total_allocated_bytes", C.c_size_t),
        ("in_use_allocated_bytes", C.c_size_t),
    ]


class _ProfiledEventData(C.Structure):  # 104 bytes on x86-64 (measured)
    _fields_ = [
        ("tag", C.c_char_p),
        ("event_type", C.c_uint32),
        ("start_timestamp_us", C.c_uint64),
        ("elapsed_time_us", C.c_uint64),
        ("begin_mem_usage", _MemoryUsage),
        ("end_mem_usage", _MemoryUsage),
        ("event_metadata1", C.c_uint64),
        ("event_metadata2", C.c_uint64),
        ("event_source", C.c_int),
    ]


assert C.sizeof(_ProfiledEventData) == 104
assert C.sizeof(_RankedTensorType) == 72

# tflite::Profiler::EventType
_EVENT_TYPES = {
    1: "runtime",  # DEFAULT: LiteRT::Run[...] phases, interpreter "Invoke"
    2: "builtin_op",  # OPERATOR_INVOKE_EVENT: TFLite kernel or delegate node
    4: "delegate_internal",  # DELEGATE_OPERATOR_INVOKE_EVENT
    8: "delegate_op",  # DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT (XNNPACK op)
    16: "runtime_instrumentation",
}
_OP_TYPES = {2, 4, 8}
_SOURCES = {0: "litert", 1: "tflite_interpreter", 2: "tflite_delegate"}

# LiteRtElementType (== TfLiteType numbering)
_ELEMENT_DTYPES = {
    1: np.float32,
    2: np.int32,
    3: np.uint8,
    4: np.int64,
    6: np.bool_,
    7: np.int16,
    8: np.complex64,
    9: np.int8,
    10: np.float16,
    11: np.float64,
    12: np.complex128,
    13: np.uint64,
    16: np.uint32,
    17: np.uint16,
}

_LOCK_WRITE = 1  # LiteRtTensorBufferLockMode: write
_HW_CPU = 1

_lib: Any = None
_libc: Any = None


def find_liblitert() -> str:
    import ai_edge_litert  # noqa: WPS433 (only to locate the package)

    path = os.path.join(os.path.dirname(ai_edge_litert.__file__), "libLiteRt.so")
    if not os.path.exists(path):
        raise ProfileUnavailable(f"libLiteRt.so not found in {os.path.dirname(path)}")
    return path


def _load():
    global _lib, _libc
    if _lib is not None:
        return _lib
    try:
        lib = C.CDLL(find_liblitert())
    except OSError as e:
        raise ProfileUnavailable(f"cannot load libLiteRt.so: {e}") from e
    missing = [s for s in _REQUIRED if not hasattr(lib, s)]
    if missing:
        raise ProfileUnavailable("libLiteRt.so lacks C symbols: " + ", ".join(missing))

    def sig(name, res, *args):
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = list(args)

    st = C.c_int
    pp = C.POINTER(_P)
    sig("LiteRtCreateEnvironment", st, C.c_int, _P, pp)
    sig("LiteRtDestroyEnvironment", None, _P)
    sig("LiteRtCreateModelFromFile", st, _P, C.c_char_p, pp)
    sig("LiteRtDestroyModel", None, _P)
    sig("LiteRtCreateOptions", st, pp)
    sig("LiteRtDestroyOptions", None, _P)
    sig("LiteRtSetOptionsHardwareAccelerators", st, _P, C.c_int)
    sig("LiteRtCreateOpaqueOptions", st, C.c_char_p, _P, _P, pp)
    sig("LiteRtAddOpaqueOptions", st, _P, _P)
    sig("LiteRtCreateCompiledModel", st, _P, _P, _P, pp)
    sig("LiteRtDestroyCompiledModel", None, _P)
    sig("LiteRtCompiledModelGetProfiler", st, _P, pp)
    sig("LiteRtGetModelSignature", st, _P, _SZ, pp)
    sig("LiteRtGetNumSignatureInputs", st, _P, C.POINTER(_SZ))
    sig("LiteRtGetNumSignatureOutputs", st, _P, C.POINTER(_SZ))
    sig("LiteRtGetSignatureInputName", st, _P, _SZ, C.POINTER(C.c_char_p))
    sig("LiteRtGetSignatureOutputName", st, _P, _SZ, C.POINTER(C.c_char_p))
    sig("LiteRtGetSignatureInputTensorByIndex", st, _P, _SZ, pp)
    sig("LiteRtGetSignatureOutputTensorByIndex", st, _P, _SZ, pp)
    sig("LiteRtGetRankedTensorType", st, _P, C.POINTER(_RankedTensorType))
    sig("LiteRtGetCompiledModelInputTensorLayout", st, _P, _SZ, _SZ, C.POINTER(_Layout))
    sig("LiteRtGetCompiledModelOutputTensorLayouts", st, _P, _SZ, _SZ, C.POINTER(_Layout), C.c_bool)
    sig("LiteRtGetCompiledModelInputBufferRequirements", st, _P, _SZ, _SZ, pp)
    sig("LiteRtGetCompiledModelOutputBufferRequirements", st, _P, _SZ, _SZ, pp)
    sig(
        "LiteRtCreateManagedTensorBufferFromRequirements",
        st,
        _P,
        C.POINTER(_RankedTensorType),
        _P,
        pp,
    )
    sig("LiteRtDestroyTensorBuffer", None, _P)
    sig("LiteRtGetTensorBufferSize", st, _P, C.POINTER(_SZ))
    sig("LiteRtLockTensorBuffer", st, _P, pp, C.c_int)
    sig("LiteRtUnlockTensorBuffer", st, _P)
    sig("LiteRtRunCompiledModel", st, _P, _SZ, _SZ, pp, _SZ, pp)
    sig("LiteRtStartProfiler", st, _P)
    sig("LiteRtStopProfiler", st, _P)
    sig("LiteRtResetProfiler", st, _P)
    sig("LiteRtGetNumProfilerEvents", st, _P, C.POINTER(C.c_int))
    sig("LiteRtGetProfilerEvents", st, _P, C.c_int, C.POINTER(_ProfiledEventData))

    libc = C.CDLL(None)
    libc.strdup.restype = _P
    libc.strdup.argtypes = [C.c_char_p]
    libc.free.restype = None
    libc.free.argtypes = [_P]
    _lib, _libc = lib, libc
    return lib


class _LiteRtError(RuntimeError):
    pass


def _chk(status, what, log=None):
    if status != 0:
        msg = f"{what} failed with LiteRtStatus {status}"
        if log:
            msg += "\n--- LiteRT log ---\n" + log.strip()[-2000:]
        raise _LiteRtError(msg)


@contextmanager
def _captured_stderr(enabled=True):
    """Redirect fd 2 (LiteRT's INFO/WARNING logger) into a temp file."""
    box = {"text": ""}
    if not enabled:
        yield box
        return
    import sys

    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield box
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode("utf-8", "replace")


def _opaque(lib, opts, identifier: str, toml: str):
    # Payload must be malloc'ed: LiteRT frees it with the destructor we give
    # (libc free) when the options are destroyed.
    payload = _libc.strdup(toml.encode())
    handle = _P()
    _chk(
        lib.LiteRtCreateOpaqueOptions(
            identifier.encode(), payload, C.cast(_libc.free, _P), C.byref(handle)
        ),
        f"LiteRtCreateOpaqueOptions({identifier})",
    )
    _chk(lib.LiteRtAddOpaqueOptions(opts, handle), f"LiteRtAddOpaqueOptions({identifier})")


def profile_ops(
    tflite_path: str,
    threads: int,
    inputs: Sequence[np.ndarray],
    time_runs: Callable[[Callable[[], object]], list[float]],
    xnnpack: bool = True,
    *,
    signature_index: int = 0,
    quiet: bool = True,
) -> dict:
    """Profiles runs of a .tflite model with LiteRT's profiler; `time_runs(run)` is the
    harness's clock, which warms up and times each call of `run`.

    inputs: arrays in signature input order (see result["inputs"]).  threads: CPU threads
    (XNNPACK + TFLite interpreter).
    xnnpack=False selects LiteRT's "builtin" CPU kernel mode (plain TFLite kernels).

    Returns {"events": [...op events...], "runs", "walls_ms", "wall_ms_per_run",
    "runtime_events": [...LiteRT::Run phases / Invoke...], "ops_ms_per_run", "inputs",
    "outputs" (names, shapes, dtypes), "threads", "xnnpack", "resolution_us": 1}. Op times are per
    profiled call (warm-up calls of `time_runs` included, all after one unprofiled run).
    Raises ProfileUnavailable with a reason when LiteRT profiling cannot be used.
    """
    runs = 1  # replaced by the number of profiled calls
    if threads < 1:
        raise ValueError("threads must be >= 1")
    lib = _load()

    env, model, opts, cm = _P(), _P(), _P(), _P()
    buffers = []
    log_box = {"text": ""}
    try:
        with _captured_stderr(quiet) as log_box:
            if True:
                _chk(lib.LiteRtCreateEnvironment(0, None, C.byref(env)), "LiteRtCreateEnvironment")
                _chk(
                    lib.LiteRtCreateModelFromFile(
                        env, os.fspath(tflite_path).encode(), C.byref(model)
                    ),
                    "LiteRtCreateModelFromFile",
                )
                _chk(lib.LiteRtCreateOptions(C.byref(opts)), "LiteRtCreateOptions")
                _chk(
                    lib.LiteRtSetOptionsHardwareAccelerators(opts, _HW_CPU),
                    "LiteRtSetOptionsHardwareAccelerators",
                )
                # Identifiers/keys = LiteRtRuntimeOptionsT::Identifier() and
                # LiteRtCpuOptionsT::Identifier() of this build (TOML payloads).
                _opaque(lib, opts, "runtime_options_string", "enable_profiling = true\n")
                cpu = f"num_threads = {int(threads)}\n"
                if not xnnpack:
                    cpu += 'kernel_mode = "builtin"\n'
                _opaque(lib, opts, "xnnpack", cpu)
                _chk(
                    lib.LiteRtCreateCompiledModel(env, model, opts, C.byref(cm)),
                    "LiteRtCreateCompiledModel",
                )
        log = log_box["text"]
        if not xnnpack and "XNNPACK delegate" in log:
            raise ProfileUnavailable(
                "kernel_mode=builtin was ignored: XNNPACK delegate still applied"
            )

        prof = _P()
        _chk(
            lib.LiteRtCompiledModelGetProfiler(cm, C.byref(prof)), "LiteRtCompiledModelGetProfiler"
        )
        if not prof.value:
            raise ProfileUnavailable(
                "compiled model has no profiler (runtime option enable_profiling not honoured)"
            )

        # ---- signature / buffers
        sig = _P()
        _chk(
            lib.LiteRtGetModelSignature(model, signature_index, C.byref(sig)),
            "LiteRtGetModelSignature",
        )
        n_in_c, n_out_c = _SZ(), _SZ()
        _chk(lib.LiteRtGetNumSignatureInputs(sig, C.byref(n_in_c)), "LiteRtGetNumSignatureInputs")
        _chk(
            lib.LiteRtGetNumSignatureOutputs(sig, C.byref(n_out_c)), "LiteRtGetNumSignatureOutputs"
        )
        n_in, n_out = int(n_in_c.value), int(n_out_c.value)

        out_layouts = (_Layout * max(n_out, 1))()
        if n_out:
            _chk(
                lib.LiteRtGetCompiledModelOutputTensorLayouts(
                    cm, signature_index, n_out, out_layouts, True
                ),
                "LiteRtGetCompiledModelOutputTensorLayouts",
            )

        def make_buffer(i, is_input):
            name = C.c_char_p()
            tensor = _P()
            if is_input:
                _chk(
                    lib.LiteRtGetSignatureInputName(sig, i, C.byref(name)),
                    "LiteRtGetSignatureInputName",
                )
                _chk(
                    lib.LiteRtGetSignatureInputTensorByIndex(sig, i, C.byref(tensor)),
                    "GetSignatureInputTensor",
                )
            else:
                _chk(
                    lib.LiteRtGetSignatureOutputName(sig, i, C.byref(name)),
                    "LiteRtGetSignatureOutputName",
                )
                _chk(
                    lib.LiteRtGetSignatureOutputTensorByIndex(sig, i, C.byref(tensor)),
                    "GetSignatureOutputTensor",
                )
            ttype = _RankedTensorType()
            _chk(lib.LiteRtGetRankedTensorType(tensor, C.byref(ttype)), "LiteRtGetRankedTensorType")
            # Signature shapes may be dynamic (-1 batch); use the compiled layout.
            if is_input:
                _chk(
                    lib.LiteRtGetCompiledModelInputTensorLayout(
                        cm, signature_index, i, C.byref(ttype.layout)
                    ),
                    "LiteRtGetCompiledModelInputTensorLayout",
                )
            else:
                ttype.layout = out_layouts[i]
            req = _P()
            fn = (
                lib.LiteRtGetCompiledModelInputBufferRequirements
                if is_input
                else lib.LiteRtGetCompiledModelOutputBufferRequirements
            )
            _chk(fn(cm, signature_index, i, C.byref(req)), "Get*BufferRequirements")
            buf = _P()
            _chk(
                lib.LiteRtCreateManagedTensorBufferFromRequirements(
                    env, C.byref(ttype), req, C.byref(buf)
                ),
                "LiteRtCreateManagedTensorBufferFromRequirements",
            )
            buffers.append(buf)
            size = _SZ()
            _chk(lib.LiteRtGetTensorBufferSize(buf, C.byref(size)), "LiteRtGetTensorBufferSize")
            dt = _ELEMENT_DTYPES.get(ttype.element_type)
            return {
                "name": name.value.decode() if name.value else str(i),
                "shape": list(ttype.layout.shape),
                "dtype": np.dtype(dt).name if dt else f"litert_type_{ttype.element_type}",
                "_np": dt,
                "_buf": buf,
                "_size": size.value,
            }

        in_info = [make_buffer(i, True) for i in range(n_in)]
        out_info = [make_buffer(i, False) for i in range(n_out)]

        arrays = list(inputs)
        if len(arrays) != n_in:
            raise ValueError(f"model signature has {n_in} inputs, got {len(arrays)}")
        for d, arr in zip(in_info, arrays, strict=True):
            arr = np.asarray(arr)
            if d["_np"] is not None and arr.dtype != d["_np"]:
                raise ValueError(f"input {d['name']}: dtype {arr.dtype}, model wants {d['dtype']}")
            if tuple(arr.shape) != tuple(d["shape"]) and arr.size != int(np.prod(d["shape"])):
                raise ValueError(
                    f"input {d['name']}: shape {arr.shape}, compiled model wants {d['shape']}"
                )
            arr = np.ascontiguousarray(arr)
            if arr.nbytes > d["_size"]:
                raise ValueError(f"input {d['name']}: {arr.nbytes} bytes > buffer {d['_size']}")
            addr = _P()
            _chk(
                lib.LiteRtLockTensorBuffer(d["_buf"], C.byref(addr), _LOCK_WRITE),
                "LiteRtLockTensorBuffer",
            )
            try:
                C.memmove(addr, arr.ctypes.data, arr.nbytes)
            finally:
                _chk(lib.LiteRtUnlockTensorBuffer(d["_buf"]), "LiteRtUnlockTensorBuffer")

        in_arr = (_P * max(n_in, 1))(*[d["_buf"] for d in in_info])
        out_arr = (_P * max(n_out, 1))(*[d["_buf"] for d in out_info])
        run = lib.LiteRtRunCompiledModel

        # ---- one unprofiled run (first-call allocations), then the harness's runs, profiled
        _chk(run(cm, signature_index, n_in, in_arr, n_out, out_arr), "LiteRtRunCompiledModel")
        _chk(lib.LiteRtResetProfiler(prof), "LiteRtResetProfiler")
        calls = [0]

        def run_once() -> None:
            calls[0] += 1
            _chk(run(cm, signature_index, n_in, in_arr, n_out, out_arr), "LiteRtRunCompiledModel")

        _chk(lib.LiteRtStartProfiler(prof), "LiteRtStartProfiler")
        try:
            walls = time_runs(run_once)
        finally:
            _chk(lib.LiteRtStopProfiler(prof), "LiteRtStopProfiler")
        runs = max(calls[0], 1)

        n_ev = C.c_int()
        _chk(lib.LiteRtGetNumProfilerEvents(prof, C.byref(n_ev)), "LiteRtGetNumProfilerEvents")
        # num_events passed must be >= the real count (smaller -> status 1).
        evs = (_ProfiledEventData * max(n_ev.value, 1))()
        if n_ev.value:
            _chk(lib.LiteRtGetProfilerEvents(prof, n_ev.value, evs), "LiteRtGetProfilerEvents")

        ops: dict = {}
        rt: dict = {}
        order = 0
        # Delegate-op node indices restart at 0 in every delegate partition, so
        # an op instance is keyed by (name, type, node index, occurrence within
        # the run).  Runs are delimited by the recurrence of the first event.
        run_marker = None
        seen: dict = {}
        for ev in evs[: n_ev.value]:
            etype = int(ev.event_type)
            tname = _EVENT_TYPES.get(etype)
            if tname is None:  # telemetry (32..256): no timing
                continue
            name = (ev.tag or b"?").decode("utf-8", "replace")
            if run_marker is None:
                run_marker = (name, etype)
            elif (name, etype) == run_marker:
                seen = {}
            base = (name, tname, int(ev.event_metadata1) if etype in _OP_TYPES else -1)
            occ = seen.get(base, 0)
            seen[base] = occ + 1
            key = base + (occ,)
            bucket = ops if etype in _OP_TYPES else rt
            rec = bucket.get(key)
            if rec is None:
                rec = bucket[key] = {
                    "name": name,
                    "type": tname,
                    "source": _SOURCES.get(int(ev.event_source), str(ev.event_source)),
                    "node_index": key[2] if key[2] >= 0 else None,
                    "occurrence": key[3],
                    "count": 0,
                    "_us": 0,
                    "_order": order,
                }
                order += 1
            rec["count"] += 1
            rec["_us"] += int(ev.elapsed_time_us)

        def finish(bucket):
            out = []
            for rec in sorted(bucket.values(), key=lambda r: r["_order"]):
                rec["ms_per_run"] = rec.pop("_us") / 1000.0 / runs
                rec.pop("_order")
                out.append(rec)
            return out

        events = finish(ops)
        runtime_events = finish(rt)

        result = {
            "events": events,
            "runs": runs,
            "walls_ms": walls,
            "wall_ms_per_run": statistics.median(walls),
            "ops_ms_per_run": sum(ev["ms_per_run"] for ev in events),
            "runtime_events": runtime_events,
            "threads": threads,
            "xnnpack": xnnpack,
            "resolution_us": 1,
            "inputs": [{k: d[k] for k in ("name", "shape", "dtype")} for d in in_info],
            "outputs": [{k: d[k] for k in ("name", "shape", "dtype")} for d in out_info],
        }
        return result
    except _LiteRtError as e:
        raise ProfileUnavailable(
            str(e) + ("\n" + log_box["text"][-2000:] if log_box.get("text") else "")
        ) from e
    finally:
        with _captured_stderr(quiet):
            for b in buffers:
                lib.LiteRtDestroyTensorBuffer(b)
            if cm.value:
                lib.LiteRtDestroyCompiledModel(cm)  # also frees its profiler
            if opts.value:
                lib.LiteRtDestroyOptions(opts)  # frees opaque options + payloads
            if model.value:
                lib.LiteRtDestroyModel(model)
            if env.value:
                lib.LiteRtDestroyEnvironment(env)
