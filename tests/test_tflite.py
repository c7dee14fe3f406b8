"""TFLite and TensorFlow cells, converted and run for real on a tiny MobileNetV2 (0.35, 96x96)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import cli_env, run_cli

pytestmark = pytest.mark.tflite

REQUIRED = [
    "run_id",
    "weights",
    "compiler",
    "precision",
    "batch_size",
    "threads",
    "status",
    "error",
    "latency_ms",
    "throughput_ips",
    "n_runs",
    "duration_s",
    "model_size_mb",
    "convert_s",
    "load_s",
    "first_inference_ms",
    "peak_rss_mb",
    "noise_cpu_pct",
    "artifact_path",
    "system",
    "versions",
]


def _run(tmp_path: Path, cache: Path, *args: str) -> list[dict]:  # type: ignore[type-arg]
    r = run_cli(
        "run",
        "--weights",
        "random",
        "--min-duration",
        "0.2",
        "--min-runs",
        "10",
        "--warmup",
        "2",
        "--calib-size",
        "8",
        "--json",
        "--db",
        str(tmp_path / "r.db"),
        *args,
        cwd=tmp_path,
        env=cli_env(cache),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def _op_types(path: str) -> tuple[set[str], set[str]]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    ops = {op["op_name"] for op in it._get_ops_details()}
    dtypes = {np.dtype(t["dtype"]).name for t in it.get_tensor_details()}
    return ops, dtypes


def test_every_precision_converts_runs_and_is_what_it_claims(
    tmp_path: Path, shared_cache: Path
) -> None:
    records = _run(
        tmp_path,
        shared_cache,
        "--model",
        "mobilenet_v2_035_96",
        "--compiler",
        "tflite,tensorflow",
        "--precision",
        "fp32,fp16,int8-dynamic,int8",
        "--batch",
        "1,2",
    )
    by = {(r["compiler"], r["precision"], r["batch_size"]): r for r in records}
    assert len(records) == 16
    for key, rec in by.items():
        for field in REQUIRED:
            assert field in rec, field
        if key[0] == "tensorflow" and key[1] != "fp32":
            assert rec["status"] == "unsupported" and "no " + key[1] in rec["error"]
            continue
        assert rec["status"] == "ok", rec["error"]
        lat = rec["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"]
        assert lat["ci95_low"] <= lat["p50"] <= lat["ci95_high"]
        assert rec["n_runs"] >= 10 and rec["duration_s"] >= 0.2
        assert rec["throughput_ips"] == pytest.approx(key[2] * rec["n_runs"] / rec["duration_s"])
        assert rec["model_size_mb"] > 0 and rec["convert_s"] > 0 and rec["load_s"] > 0
        assert rec["first_inference_ms"] > 0 and rec["peak_rss_mb"] > 10
        assert Path(rec["artifact_path"]).exists()
    sizes = {
        p: by[("tflite", p, 1)]["model_size_mb"] for p in ("fp32", "fp16", "int8-dynamic", "int8")
    }
    # 1.7 M parameters: float16 halves the file, int8 quarters it (roughly; metadata adds a bit).
    assert sizes["fp16"] < 0.6 * sizes["fp32"]
    assert sizes["int8"] < 0.35 * sizes["fp32"] and sizes["int8-dynamic"] < 0.35 * sizes["fp32"]
    # Batch sizes share one artifact for a model with a dynamic batch.
    assert by[("tflite", "int8", 1)]["artifact_path"] == by[("tflite", "int8", 2)]["artifact_path"]

    ops, dtypes = _op_types(by[("tflite", "int8", 1)]["artifact_path"])
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "QUANTIZE", "DEQUANTIZE"} <= ops
    assert "int8" in dtypes
    assert any("random inputs" in w for w in by[("tflite", "int8", 1)]["warnings"])
    assert by[("tflite", "int8", 1)]["artifact_info"]["calibration"] == {
        "source": "random",
        "size": 8,
        "range": [-1.0, 1.0],  # MobileNetV2's inputs: pixels scaled to [-1, 1]
    }
    _, fp16_types = _op_types(by[("tflite", "fp16", 1)]["artifact_path"])
    assert "float16" in fp16_types

    # A second run reuses every artifact and reports the first run's conversion time.
    again = _run(
        tmp_path,
        shared_cache,
        "--model",
        "mobilenet_v2_035_96",
        "--compiler",
        "tflite",
        "--precision",
        "int8",
        "-o",
        "xnnpack=false",
    )[0]
    first = by[("tflite", "int8", 1)]
    assert again["cache_hit"] is True and again["artifact_path"] == first["artifact_path"]
    assert again["convert_s"] == pytest.approx(first["convert_s"], abs=1e-3)
    assert again["options"]["xnnpack"] is False


def test_a_users_tflite_file_and_a_keras_file_with_dynamic_input(
    tmp_path: Path, shared_cache: Path
) -> None:
    records = _run(
        tmp_path,
        shared_cache,
        "--model",
        "mobilenet_v2_035_96",
        "--compiler",
        "tflite",
        "--precision",
        "fp32",
    )
    tflite_file = tmp_path / "mine.tflite"
    tflite_file.write_bytes(Path(records[0]["artifact_path"]).read_bytes())
    user = _run(
        tmp_path,
        shared_cache,
        "--model",
        str(tflite_file),
        "--compiler",
        "tflite,tensorflow",
        "--precision",
        "fp32,int8",
        "--batch",
        "1,3",
    )
    by = {(r["compiler"], r["precision"], r["batch_size"]): r for r in user}
    assert by[("tflite", "fp32", 3)]["status"] == "ok"
    assert by[("tflite", "fp32", 1)]["model"] == "mine"
    assert by[("tflite", "fp32", 1)]["weights"].startswith("file:")
    # litert-quantizer takes a user's fp32 .tflite to int8 (it was 'unsupported' before)
    assert by[("tflite", "int8", 1)]["status"] == "ok", by[("tflite", "int8", 1)]["error"]
    assert by[("tflite", "int8", 1)]["artifact_info"]["recipe"].startswith("litert-quantizer")
    # A .tflite file reaches TensorFlow only through onnx2tf (.tflite -> ONNX -> SavedModel),
    # which lives in a venv of its own: without it, the cell says how to get it.
    tf = by[("tensorflow", "fp32", 1)]
    if tf["status"] != "ok":
        assert tf["status"] == "skipped" and "edgebench tools install onnx2tf" in tf["error"]

    import keras

    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    out = keras.layers.GlobalAveragePooling2D()(x)
    keras_file = tmp_path / "dyn.keras"
    keras.Model(inp, out).save(keras_file)
    r = run_cli(
        "run",
        "--model",
        str(keras_file),
        "--compiler",
        "tflite",
        cwd=tmp_path,
        env=cli_env(shared_cache),
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "has a dynamic shape (?x?x3)" in r.stderr
    assert r.stderr.rstrip().endswith("e.g. --input-shape 224,224,3")
    ok = _run(
        tmp_path,
        shared_cache,
        "--model",
        str(keras_file),
        "--compiler",
        "tflite,tensorflow",
        "--input-shape",
        "32,32,3",
    )
    assert [rec["status"] for rec in ok] == ["ok", "ok"]
