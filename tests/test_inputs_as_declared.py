"""A model's inputs as it declares them (a recurrent state, a scalar control input, no batch
dimension where the model has none), preprocessing that is stated and read from the file, and
failures that keep their cause: the faults users' second round of model files found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import cli_env, run_cli

HIDDEN = 128


def _stateful_onnx(path: Path, static_state: bool) -> Path:
    """An audio-style stateful model: x [N, T], state [2, N, 128] (LSTM h and c), sr an int64
    scalar choosing a branch of an If (16000: scale 1, else -3). Outputs the last hidden state
    scaled, and the new state."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    batch_dim: Any = 1 if static_state else "N"
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T"]),
        helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, batch_dim, HIDDEN]),
        helper.make_tensor_value_info("sr", TensorProto.INT64, []),
    ]
    outputs = [
        helper.make_tensor_value_info("out", TensorProto.FLOAT, [batch_dim, HIDDEN]),
        helper.make_tensor_value_info("new_state", TensorProto.FLOAT, [2, batch_dim, HIDDEN]),
    ]
    weights = [
        numpy_helper.from_array((rng.standard_normal((1, 4 * HIDDEN, 1)) * 0.3).astype("f4"), "W"),
        numpy_helper.from_array(
            (rng.standard_normal((1, 4 * HIDDEN, HIDDEN)) * 0.05).astype("f4"), "R"
        ),
        numpy_helper.from_array((rng.standard_normal((1, 8 * HIDDEN)) * 0.1).astype("f4"), "B"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
        numpy_helper.from_array(np.array([1, 1], dtype=np.int64), "halves"),
        numpy_helper.from_array(np.array(16000, dtype=np.int64), "rate"),
    ]

    def branch(name: str, value: float) -> Any:
        const = helper.make_node(
            "Constant", [], [f"{name}_v"], value=numpy_helper.from_array(np.array([value], "f4"))
        )
        out = helper.make_tensor_value_info(f"{name}_v", TensorProto.FLOAT, [1])
        return helper.make_graph([const], name, [], [out])

    nodes = [
        helper.make_node("Unsqueeze", ["x", "axis2"], ["x3"]),
        helper.make_node("Transpose", ["x3"], ["xs"], perm=[1, 0, 2]),
        helper.make_node("Split", ["state", "halves"], ["h0", "c0"], axis=0),
        helper.make_node(
            "LSTM", ["xs", "W", "R", "B", "", "h0", "c0"], ["Y", "Y_h", "Y_c"], hidden_size=HIDDEN
        ),
        helper.make_node("Concat", ["Y_h", "Y_c"], ["new_state"], axis=0),
        helper.make_node("Equal", ["sr", "rate"], ["is_16k"]),
        helper.make_node(
            "If",
            ["is_16k"],
            ["scale"],
            then_branch=branch("then", 1.0),
            else_branch=branch("else", -3.0),
        ),
        helper.make_node("Squeeze", ["Y_h", "axis0"], ["last"]),
        helper.make_node("Mul", ["last", "scale"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "stateful", inputs, outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _cells(r: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert r.returncode in (0, 3), r.stderr[-3000:]
    return list(json.loads(r.stdout))


FAST = ("--min-duration", "0.1", "--min-runs", "5", "--warmup", "1")


# --- a stateful model runs with its true shapes ------------------------------------------------
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_a_stateful_model_runs_with_its_true_shapes_under_ort_and_openvino(
    tmp_path: Path, shared_cache: Path
) -> None:
    model = _stateful_onnx(tmp_path / "vad.onnx", static_state=False)
    r = run_cli("run", "--model", str(model), "--compiler", "onnxruntime,openvino",
                "--input-shape", "x=16;state=2x1x128", "--input-value", "sr=16000", *FAST,
                "--json", "--db", "r.db", cwd=tmp_path, env=cli_env(shared_cache))  # fmt: skip
    cells = {c["compiler"]: c for c in _cells(r)}
    assert "'state' [2x1x128] float32" in r.stderr and "'sr' [scalar] int64 = 16000" in r.stderr
    for compiler in ("onnxruntime", "openvino"):
        cell = cells[compiler]
        assert cell["status"] == "ok", cell["error_detail"] or cell["error"]
        assert [o["shape"] for o in cell["outputs"]] == [[1, HIDDEN], [2, 1, HIDDEN]], cell
    assert cells["openvino"]["fidelity"]["snr_db"] >= 80, cells["openvino"]["fidelity"]


@pytest.mark.onnxruntime
def test_a_control_input_gets_the_value_given_not_random_bytes(tmp_path: Path) -> None:
    """sr=16000 takes the If's 'then' branch; random int64 values 0..255 took the other one."""
    from edgebench.models import InputSpec, ModelSpec
    from edgebench.models.synthetic_inputs import make_inputs

    sr_spec = InputSpec("sr", (), "int64", batched=False, value=16000)
    spec = ModelSpec("m", "audio", (InputSpec("x", (16,)), sr_spec))
    x, sr = make_inputs(spec, 1)
    assert x.shape == (1, 16) and sr.shape == () and sr.dtype == np.int64 and int(sr) == 16000

    import onnxruntime as ort

    model = _stateful_onnx(tmp_path / "vad.onnx", static_state=False)
    session = ort.InferenceSession(str(model))
    state = np.zeros((2, 1, HIDDEN), "f4")
    same = session.run(None, {"x": x, "state": state, "sr": sr})[0]
    other = session.run(None, {"x": x, "state": state, "sr": np.array(200)})[0]
    np.testing.assert_allclose(other, -3.0 * same, rtol=1e-5)


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_a_static_state_is_never_reshaped_into_an_ok_cell(
    tmp_path: Path, shared_cache: Path
) -> None:
    """[2,1,128] fixed by the model: batch 1 runs it as declared; batch 2 may fail, with the
    framework's whole message, but never reads ok with the state cut to fit."""
    model = _stateful_onnx(tmp_path / "vad_static.onnx", static_state=True)
    r = run_cli("run", "--model", str(model), "--compiler", "onnxruntime,openvino", "--batch",
                "1,2", "--input-shape", "x=16", "--input-value", "sr=16000", *FAST,
                "--json", "--db", "r.db", cwd=tmp_path, env=cli_env(shared_cache))  # fmt: skip
    cells = _cells(r)
    assert len(cells) == 4
    for cell in cells:
        if cell["batch_size"] == 1:
            assert cell["status"] == "ok", cell["error"]
            assert cell["outputs"][1]["shape"] == [2, 1, HIDDEN]
        else:
            assert cell["status"] == "failed", cell
    ov_b2 = next(c for c in cells if c["compiler"] == "openvino" and c["batch_size"] == 2)
    # OpenVINO's message runs over several lines and its first names only a source file: the
    # line is the summary, the record keeps the whole (the node and the dimension that did not
    # match), and `results --cell` prints it
    assert "Dimension `batch_size` is not matched" in ov_b2["error_detail"], ov_b2
    position = 1 + cells.index(ov_b2)
    r = run_cli("results", "--db", "r.db", "--cell", str(position), cwd=tmp_path)
    assert r.returncode == 0 and "error, whole:" in r.stdout, r.stderr
    assert "Dimension `batch_size` is not matched" in r.stdout


@pytest.mark.openvino
def test_openvino_refuses_to_reshape_a_size_the_model_fixes(tmp_path: Path) -> None:
    """What OpenVINO did silently: a state [2,1,128] taken for a batched [B,1,128] input and
    reshaped to [1,1,128] measured another model."""
    import openvino as ov

    from edgebench.compilers.openvino_runtime import _check_reshape
    from edgebench.errors import ConversionError
    from edgebench.models import InputSpec, ModelSpec

    ir = ov.Core().read_model(str(_stateful_onnx(tmp_path / "m.onnx", static_state=True)))
    wrong = ModelSpec("m", "audio", (InputSpec("x", (16,)), InputSpec("state", (1, 128)),
                                     InputSpec("sr", (), "int64", batched=False)))  # fmt: skip
    with pytest.raises(ConversionError, match="would reshape input 'state'"):
        _check_reshape(ir, wrong, {1: [1, 1, 128]})
    right = ModelSpec("m", "audio", (InputSpec("x", (16,)),
                                     InputSpec("state", (2, 1, 128), batched=False),
                                     InputSpec("sr", (), "int64", batched=False)))  # fmt: skip
    _check_reshape(ir, right, {0: [1, 16], 1: [2, 1, 128], 2: []})


@pytest.mark.onnxruntime
def test_inspect_prints_each_input_as_declared(tmp_path: Path) -> None:
    model = _stateful_onnx(tmp_path / "vad.onnx", static_state=False)
    r = run_cli("inspect", str(model), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    inputs = {i["name"]: i for i in found["inputs"]}
    assert inputs["x"]["batch_dim"] == 0 and inputs["x"]["shape"] == [None, None]
    assert inputs["state"]["batch_dim"] is None and inputs["state"]["shape"] == [2, None, 128]
    assert inputs["sr"]["shape"] == [] and inputs["sr"]["dtype"] == "int64"
    assert [o["name"] for o in found["outputs"]] == ["out", "new_state"]
    r = run_cli("inspect", str(model), "--input-shape", "x=16;state=2x1x128", cwd=tmp_path)
    assert "state: [2x1x128] float32" in r.stdout and "no batch dimension: fed whole" in r.stdout
    r = run_cli("inspect", str(model), "--input-shape", "x=16;state=8x128", cwd=tmp_path)
    assert r.returncode == 2 and "contradicts input 'state'" in r.stderr
    r = run_cli("inspect", str(model), "--input-shape", "x=16;state=2x1x128",
                "--input-value", "rate=8000", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "--input-value names 'rate'" in r.stderr


@pytest.mark.onnxruntime
def test_input_shape_entries_apply_to_the_models_that_have_those_inputs(tmp_path: Path) -> None:
    vad = _stateful_onnx(tmp_path / "vad.onnx", static_state=False)
    r = run_cli("run", "--model", f"{vad},mobilenet_v2_035_96", "--weights", "random",
                "--compiler", "null", "--input-shape", "x=16;state=2x1x128", "--min-duration",
                "0", "--no-fidelity", "--json", "--db", "r.db", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_cli("run", "--model", f"{vad},mobilenet_v2_035_96", "--weights", "random",
                "--compiler", "null", "--input-shape", "x=16;state=2x1x128;imgs=3x8x8",
                "--no-fidelity", "--db", "r.db", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2
    assert "--input-shape names 'imgs': no model of this run has such an input" in r.stderr


# --- preprocessing, stated and read from the file ---------------------------------------------
TFLITE_WITH_METADATA = """
import sys
import flatbuffers
import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

inputs = tf.keras.Input((32, 32, 3), name="image")
x = tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
x = tf.keras.layers.GlobalAveragePooling2D()(x)
model = tf.keras.Model(inputs, tf.keras.layers.Dense(10)(x))
flat = tf.lite.TFLiteConverter.from_keras_model(model).convert()
open(sys.argv[1], "wb").write(flat)

# TFLite Support metadata (metadata_schema.fbs): the input normalized (x - 127.5) / 127.5
b = flatbuffers.Builder(256)
def floats(v):
    b.StartVector(4, len(v), 4)
    for f in reversed(v):
        b.PrependFloat32(f)
    return b.EndVector()
def tables(v):
    b.StartVector(4, len(v), 4)
    for t in reversed(v):
        b.PrependUOffsetTRelative(t)
    return b.EndVector()
mean, std = floats([127.5]), floats([127.5])
b.StartObject(2); b.PrependUOffsetTRelativeSlot(0, mean, 0)
b.PrependUOffsetTRelativeSlot(1, std, 0)
norm = b.EndObject()
b.StartObject(2); b.PrependUint8Slot(0, 1, 0); b.PrependUOffsetTRelativeSlot(1, norm, 0)
units = tables([b.EndObject()])
name = b.CreateString("image")
b.StartObject(7); b.PrependUOffsetTRelativeSlot(0, name, 0)
b.PrependUOffsetTRelativeSlot(4, units, 0)
tensors = tables([b.EndObject()])
b.StartObject(7); b.PrependUOffsetTRelativeSlot(2, tensors, 0)
subgraphs = tables([b.EndObject()])
b.StartObject(8); b.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
b.Finish(b.EndObject(), file_identifier=b"M001")
blob = bytes(b.Output())

m = schema.ModelT.InitFromPackedBuf(bytearray(flat), 0)
buffer = schema.BufferT(); buffer.data = np.frombuffer(blob, np.uint8)
m.buffers.append(buffer)
entry = schema.MetadataT(); entry.name = "TFLITE_METADATA"; entry.buffer = len(m.buffers) - 1
m.metadata = (m.metadata or []) + [entry]
out = flatbuffers.Builder(1024)
out.Finish(m.Pack(out), file_identifier=b"TFL3")
open(sys.argv[2], "wb").write(bytes(out.Output()))
"""


@pytest.mark.tflite
def test_a_tflite_with_normalization_metadata_is_fed_and_calibrated_in_its_range(
    tmp_path: Path, shared_cache: Path
) -> None:
    plain, stated = tmp_path / "plain.tflite", tmp_path / "stated.tflite"
    built = subprocess.run([sys.executable, "-c", TFLITE_WITH_METADATA, str(plain), str(stated)],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    from edgebench.models.tflite_metadata import input_normalization

    assert input_normalization(stated) == [{"name": "image", "mean": [127.5], "std": [127.5]}]
    assert input_normalization(plain) == []

    ranges = {}
    for path in (stated, plain):
        r = run_cli("run", "--model", str(path), "--compiler", "tflite", "--precision", "int8",
                    "--dataset", "photos", "--calib-dataset", "photos", *FAST, "--json",
                    "--db", "r.db", cwd=tmp_path, env=cli_env(shared_cache))  # fmt: skip
        cell = _cells(r)[0]
        assert cell["status"] == "ok", cell["error"]
        ranges[path.stem] = (cell["preprocessing"], cell["artifact_info"]["calibration"], r.stderr)
    fed, calibration, said = ranges["stated"]
    assert fed == "(pixel - 127.5) / 127.5, in [-1, 1]; from the model's own TFLite metadata"
    assert "images are fed as (pixel - 127.5) / 127.5" in said
    lo, hi = calibration["range"]
    assert -1.0 <= lo < -0.5 and 0.5 < hi <= 1.0, calibration  # the photos, as the model wants
    fed, calibration, said = ranges["plain"]
    assert fed.startswith("pixels scaled to [0, 1]") and "edgebench's default" in fed
    lo, hi = calibration["range"]
    assert 0.0 <= lo < 0.25 and 0.75 < hi <= 1.0, calibration


def test_preprocessing_flags_are_checked_before_any_work(tmp_path: Path) -> None:
    for args, line in (
        (("--input-range", "1,0"), "--input-range takes LO,HI with LO < HI"),
        (("--input-mean", "127.5"), "--input-mean and --input-std go together"),
        (("--input-range", "0,1", "--input-mean", "1", "--input-std", "1"), "not both"),
        (("--input-mean", "1,2", "--input-std", "1"), "one number or three"),
    ):
        r = run_cli("run", "--model", "mobilenet_v2_035_96", "--compiler", "null", *args,
                    "--db", "r.db", cwd=tmp_path)  # fmt: skip
        assert r.returncode == 2 and line in r.stderr, (args, r.stderr)
    r = run_cli("run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--input-range",
                "0,1", "--db", "r.db", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "a zoo model's preprocessing is its own" in r.stderr


# --- failures keep their cause; a converted model's tensorflow cell says so ------------------
def test_a_failures_whole_message_is_kept_where_the_line_leaves_some_out() -> None:
    from edgebench.errors import ConversionError, error_detail, error_line

    ort = RuntimeError(
        "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: state "
        "for the following indices\n index: 1 Got: 2 Expected: 1\n Please fix either the inputs "
        "or the model."
    )
    assert "index: 1 Got: 2 Expected: 1" in error_detail(ort)
    assert "Got: 2" not in error_line(ort) or len(error_line(ort)) < len(error_detail(ort))
    try:
        try:
            raise ort
        except RuntimeError as exc:
            raise ConversionError("openvino: could not compile") from exc
    except ConversionError as wrapped:
        assert "Please fix either the inputs" in error_detail(wrapped)
    assert error_detail(ValueError("one line")) == ""


def test_tvm_names_the_operator_it_could_not_build() -> None:
    from edgebench.compilers.tvm_relax import unlowered_operator

    message = (
        "Traceback (most recent call last):\n  3: tvm::relax::CodeGenVM::VisitExpr_\n"
        "TVMError: CodeGenVM cannot emit this Relax operator directly: "
        'R.subtract(lv12, metadata["relax.expr.Constant"][0])'
    )
    assert unlowered_operator(message).startswith("the operator R.subtract (")
