"""No code runs from a model file: the hardening issue's second round, item 1. Each hostile file
here creates a marker file when anything it carries runs; every loader refuses it with one line
naming the file, and the marker is never there. Each test failed on the code before the fix."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import edgebench
from conftest import cli_env, run_cli

SRC = Path(edgebench.__file__).resolve().parent


def _refusal(r: subprocess.CompletedProcess[str], model: Path) -> str:
    """The one `error:` line of a refused command, which names the model."""
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-3000:]
    assert r.returncode == 2, r.stderr[-3000:]
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(model) in errors[0], r.stderr[-3000:]
    return errors[0]


def _refused(load: Callable[[], Any]) -> str:
    """The ModelLoadError `load` raised, as text; empty when it loaded."""
    from edgebench.errors import ModelLoadError

    try:
        load()
    except ModelLoadError as exc:
        return str(exc)
    return ""


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(tmp_path / "cache")
    return run_cli(*args, "--min-duration", "0", "--no-fidelity", cwd=tmp_path, env=env)


def test_1_no_source_calls_torch_export_load() -> None:
    """torch.export.load runs what a .pt2 holds: every program is read by load_program."""
    calls = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.export.load":
                calls.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not calls, calls


# --- torch.export programs (.pt2) ------------------------------------------------------------
@pytest.fixture(scope="module")
def good_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    path = tmp_path_factory.mktemp("pt2") / "good.pt2"
    torch.manual_seed(0)
    torch.export.save(torch.export.export(torch.nn.Linear(4, 2), (torch.randn(1, 4),)), str(path))
    return path


def _hostile(maker: str, good: Path, folder: Path) -> tuple[Path, Path]:
    from support.hostile_pt2 import MAKERS

    if maker == "native library" and not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler to build the library")
    marker = folder / "marker"
    return MAKERS[maker](good, folder / "evil.pt2", marker), marker


@pytest.mark.torch
@pytest.mark.parametrize(
    "command", [("run", "--compiler", "null"), ("explain", "--compiler", "torch")]
)
def test_1_a_pt2_with_a_pickled_weight_runs_nothing(
    tmp_path: Path, good_pt2: Path, command: tuple[str, ...]
) -> None:
    evil, marker = _hostile("pickled weight", good_pt2, tmp_path)
    r = _cli(tmp_path, command[0], "--model", str(evil), *command[1:])
    assert not marker.exists(), "the file's pickle ran"
    assert "Python pickle (use_pickle)" in _refusal(r, evil)


@pytest.mark.torch
@pytest.mark.parametrize(
    "maker",
    [
        "pickled weight",
        "pickled constant",
        "opaque constant",
        "sample inputs",
        "legacy weights",
        "legacy zip",
        "guard",
        "sympy size",
        "argument name",
        "pytree import",
        "file op",
        "native library",
    ],
)
def test_1_the_pt2_loader_refuses_every_way_a_file_can_run_code(
    tmp_path: Path, good_pt2: Path, maker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgebench.models.torch_program import load_program

    evil, marker = _hostile(maker, good_pt2, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # where the pytree import's module lies
    refused = _refused(lambda: load_program(evil).module()(__import__("torch").zeros(1, 4)))
    assert not marker.exists(), "the file's code ran"
    assert refused.startswith(f"{evil}: ") and "\n" not in refused


def test_1_torch_s_own_immutable_containers_pass_the_pytree_check() -> None:
    """A program traced from an onnx2torch module (MediaPipe's face detector, ONNX -> torch ->
    ExecuTorch) was refused: its outputs are torch.fx's immutable_list, a container torch
    registers itself; a type from any other module is still refused."""
    import json

    from edgebench.models.torch_program import _check_spec, _Refused

    leaf = {"type": None, "context": None, "children_spec": []}

    def spec(kind: str) -> str:
        return json.dumps([1, {"type": kind, "context": "null", "children_spec": [leaf, leaf]}])

    for kind in ("torch.fx.immutable_collections.immutable_list", "builtins.list"):
        _check_spec(spec(kind), kwargs_at_top=False)
    with pytest.raises(_Refused, match="pytree type 'planted.Evil'"):
        _check_spec(spec("planted.Evil"), kwargs_at_top=False)


@pytest.mark.torch
def test_1_weights_named_as_onnx_names_them_load_and_a_quote_in_a_name_is_refused(
    tmp_path: Path,
) -> None:
    """Every PaddleOCR and MediaPipe model lost its torch and ExecuTorch cells: their programs
    (traced from onnx2torch) keep ONNX's names for weights and constants, `p2o/Conv/60.bias`,
    which the reader refused as 'not a plain name'. Such names are only ever set with setattr
    or quoted by torch; a name with a quote in it still is refused."""
    import json
    import zipfile

    import torch

    from edgebench.models.torch_program import load_program

    class Named(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.add_module("p2o/Conv/60", torch.nn.Linear(4, 2))
            self.register_buffer("scale/bias_fused_mul", torch.full((2,), 0.5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            layer = getattr(self, "p2o/Conv/60")
            return layer(x) * getattr(self, "scale/bias_fused_mul")

    torch.manual_seed(0)
    module, x = Named().eval(), torch.randn(1, 4)
    path = tmp_path / "named.pt2"
    torch.export.save(torch.export.export(module, (x,)), str(path))
    got = load_program(path).module()(x)
    assert torch.allclose(got, module(x))

    records: dict[str, bytes] = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            records[name] = z.read(name)
    config = next(n for n in records if n.endswith("model_weights_config.json"))
    text = records[config].decode()
    records[config] = text.replace("p2o/Conv/60", 'p2o/Conv\\"60').encode()
    json.loads(records[config])  # still JSON: only the name changed
    evil = tmp_path / "quoted.pt2"
    with zipfile.ZipFile(evil, "w") as z:
        for name, data in records.items():
            z.writestr(name, data)
    assert "is not a plain name" in _refused(lambda: load_program(evil))


def _inspect(path: Path) -> Any:
    from edgebench.models.inspect import inspect_inputs

    return inspect_inputs(path, "torch")


def _explain_graph(path: Path) -> Any:
    from edgebench.explain.graph import read_torch_program

    return read_torch_program(path)


def _torch_runtime(path: Path) -> Any:
    """What a cell's measurement loads, on this host or on a target."""
    from edgebench.compilers.torch_runtime import ModuleRuntime

    return ModuleRuntime(path, 1, 1, "fp32", {"torch_compile": "none"})


@pytest.mark.torch
@pytest.mark.parametrize("opener", [_inspect, _explain_graph, _torch_runtime])
def test_1_every_reader_of_a_pt2_refuses_it(
    tmp_path: Path, good_pt2: Path, opener: Callable[[Path], Any]
) -> None:

    evil, marker = _hostile("pickled weight", good_pt2, tmp_path)
    refused = _refused(lambda: opener(evil))
    assert not marker.exists(), "the file's pickle ran"
    assert "use_pickle" in refused


@pytest.mark.torch
def test_1_programs_load_and_run_as_torch_export_load_gives_them(
    tmp_path: Path, good_pt2: Path
) -> None:
    """A plain program, and the zoo's MobileNetV2 twin (dynamic batch: symbolic sizes and
    guards), give what torch.export.load's give."""
    import torch

    from edgebench.models.torch_mobilenet_v2 import build
    from edgebench.models.torch_program import load_program

    build(tmp_path / "twin.pt2", width=0.35, size=96)
    for path, x in (
        (good_pt2, torch.randn(1, 4)),
        (tmp_path / "twin.pt2", torch.rand(2, 96, 96, 3)),
    ):
        with torch.no_grad():
            got = load_program(path).module()(x)
            expected = torch.export.load(str(path)).module()(x)
        assert torch.equal(got, expected)


# --- TorchScript programs (.pt) --------------------------------------------------------------
def _scripted(kind: str, marker: Path) -> Any:
    """A TorchScript module that writes `marker` as it loads (`__setstate__`) or runs."""
    import torch

    class Scripted(torch.nn.Module):
        __constants__ = ["name"]  # TorchScript inlines it: __setstate__ sees it before state

        def __init__(self) -> None:
            super().__init__()
            self.name = str(marker)
            self.w = torch.nn.Parameter(torch.ones(2))

    class Setstate(Scripted):
        @torch.jit.export
        def __getstate__(self) -> tuple[torch.Tensor, bool]:
            return (self.w.detach(), self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
            torch.save([1], self.name)
            self.w = state[0]
            self.training = state[1]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.w

    class SavesInForward(Scripted):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            torch.save([1], self.name)
            return x * self.w

    class MapsAFile(Scripted):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.w + torch.from_file(self.name, True, 2).sum() * 0

    module = {"setstate": Setstate, "save": SavesInForward, "from_file": MapsAFile}[kind]()
    return torch.jit.script(module)


@pytest.mark.torch
def test_1_a_torchscript_program_whose_setstate_writes_a_file_runs_nothing(
    tmp_path: Path,
) -> None:
    import torch

    marker = tmp_path / "marker"
    torch.jit.save(_scripted("setstate", marker), str(tmp_path / "evil.pt"))
    assert not marker.exists()
    r = _cli(tmp_path, "run", "--model", str(tmp_path / "evil.pt"), "--compiler", "null",
             "--input-shape", "2")  # fmt: skip
    assert not marker.exists(), "the program's __setstate__ ran"
    assert "defines __setstate__" in _refusal(r, tmp_path / "evil.pt")


@pytest.mark.torch
@pytest.mark.parametrize(("kind", "said"), [("save", "torch.save"), ("from_file", "from_file")])
def test_1_torchscript_that_touches_files_when_it_runs_is_refused(
    tmp_path: Path, kind: str, said: str
) -> None:
    """Converting a .pt runs its forward (traced_program), so file ops there are refused too."""
    import torch

    from edgebench.errors import ModelLoadError
    from edgebench.models.torchscript_check import check_torchscript

    marker = tmp_path / "marker"
    torch.jit.save(_scripted(kind, marker), str(tmp_path / "evil.pt"))
    with pytest.raises(ModelLoadError, match=said):
        check_torchscript(tmp_path / "evil.pt")


@pytest.mark.torch
def test_1_ordinary_torchscript_programs_pass_the_check(tmp_path: Path) -> None:
    import torch
    from torch import nn

    from edgebench.models.torch_mobilenet_v2 import make_module
    from edgebench.models.torchscript_check import check_torchscript

    image = torch.rand(1, 3, 16, 16)
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    lstm = nn.LSTM(8, 16, 2, batch_first=True).eval()
    twin = make_module(0.35).eval()
    programs = {
        "conv_script": torch.jit.script(conv),
        "conv_trace": torch.jit.trace(conv, image),
        "lstm_script": torch.jit.script(lstm),
        "lstm_trace": torch.jit.trace(lstm, torch.rand(1, 5, 8)),
        "twin_trace": torch.jit.trace(twin, torch.rand(1, 96, 96, 3)),
        "twin_frozen": torch.jit.freeze(torch.jit.script(twin)),
    }
    for name, program in programs.items():
        torch.jit.save(program, str(tmp_path / f"{name}.pt"))
        check_torchscript(tmp_path / f"{name}.pt")


# --- SavedModels -----------------------------------------------------------------------------
def _saved_model(kind: str, folder: Path, marker: Path) -> Path:
    """A SavedModel that writes `marker` as it loads (a resource initializer), or runs Python,
    or names an asset outside itself."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    spec = tf.TensorSpec([None, 4], tf.float32)

    class Counter(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self) -> Any:
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[])

        def _initialize(self) -> Any:
            tf.io.write_file(str(marker), "ran")  # runs inside tf.saved_model.load
            return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=1.0)

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.counter = Counter() if kind == "initializer" else None

        @tf.function(input_signature=[spec])
        def serve(self, x: Any) -> Any:
            if kind == "python":
                return tf.py_function(lambda v: v * 2, [x], tf.float32)
            return x * 2

    model = Model()
    out = folder / kind
    tf.saved_model.save(model, str(out), signatures={"serving_default": model.serve})
    return out


@pytest.mark.tensorflow
def test_1_a_savedmodel_whose_initializer_writes_a_file_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    model = _saved_model("initializer", tmp_path, marker)
    marker.unlink(missing_ok=True)  # saving may run the initializer
    r = _cli(tmp_path, "run", "--model", str(model), "--compiler", "null")
    assert not marker.exists(), "the SavedModel's initializer ran"
    assert "op WriteFile" in _refusal(r, model)


@pytest.mark.tensorflow
def test_1_savedmodels_that_run_python_or_read_outside_are_refused(tmp_path: Path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    from edgebench.errors import ModelLoadError
    from edgebench.models.saved_model_check import check_saved_model

    with pytest.raises(ModelLoadError, match="op EagerPyFunc .* runs Python"):
        check_saved_model(_saved_model("python", tmp_path, tmp_path / "marker"))
    plain = _saved_model("plain", tmp_path, tmp_path / "marker")
    check_saved_model(plain)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((plain / "saved_model.pb").read_bytes())
    proto.meta_graphs[0].asset_file_def.add(filename="../../etc/hostname")
    (plain / "saved_model.pb").write_bytes(proto.SerializeToString())
    with pytest.raises(ModelLoadError, match="asset '../../etc/hostname'"):
        check_saved_model(plain)


@pytest.mark.tensorflow
def test_1_edgebench_s_own_keras_export_passes_the_savedmodel_check(tmp_path: Path) -> None:
    """The checkpoint ops of a SavedModel's own save and restore functions are not refused."""
    from edgebench.conversion.tensorflow_steps import keras_to_savedmodel, materialize_zoo_model
    from edgebench.models import get_model
    from edgebench.models.saved_model_check import check_saved_model
    from edgebench.models.weights import ResolvedWeights

    model, weights = get_model("mobilenet_v2_035_96"), ResolvedWeights("random", None)
    materialize_zoo_model(None, tmp_path, model, weights, None)
    keras_to_savedmodel(tmp_path / "model.keras", tmp_path, model, weights, None)
    check_saved_model(tmp_path / "saved_model")


# --- Keras -----------------------------------------------------------------------------------
@pytest.mark.tensorflow
@pytest.mark.parametrize("function", ["lambda", "def"])
def test_1_a_keras_lambda_layer_is_refused_in_one_line(tmp_path: Path, function: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    marker = tmp_path / "marker"

    def touch(x: Any) -> Any:
        open(marker, "w").close()
        return x

    layer = keras.layers.Lambda((lambda x: touch(x)) if function == "lambda" else touch)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), layer])
    model.save(tmp_path / "lambda.keras")
    marker.unlink(missing_ok=True)
    r = _cli(tmp_path, "run", "--model", str(tmp_path / "lambda.keras"), "--compiler", "null")
    line = _refusal(r, tmp_path / "lambda.keras")
    said = {"lambda": "a Keras Lambda layer holds Python code", "def": "Could not locate function"}
    assert said[function] in line and "safe_mode=False" not in line
    assert "Exception encountered" not in r.stderr and "config=" not in r.stderr
    assert not marker.exists()


# --- ONNX external data -----------------------------------------------------------------------
def _onnx_with_external_weight(path: Path, location: str) -> None:
    """A one-Add graph whose weight's bytes are said to lie in `location`."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros(4, np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "16"}.items():
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("how", ["outside", "symlink"])
@pytest.mark.parametrize("compiler", ["onnxruntime", "openvino"])
def test_1_onnx_external_data_outside_the_model_s_folder_is_never_read(
    tmp_path: Path, how: str, compiler: str
) -> None:
    """An ONNX file runs no code, but its external data names files to read as weights: a path
    that leaves the model's folder, or a link out of it, would copy a secret into a model."""
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2 hunter2 hunter2\n")
    folder = tmp_path / "model"
    folder.mkdir()
    if how == "symlink":
        (folder / "weights.bin").symlink_to(secret)
    location = "weights.bin" if how == "symlink" else "../secret.txt"
    _onnx_with_external_weight(folder / "evil.onnx", location)
    r = _cli(tmp_path, "run", "--model", str(folder / "evil.onnx"), "--compiler", compiler)
    line = _refusal(r, folder / "evil.onnx")
    # onnx's own check, which every reader here meets first (a link: "is a symbolic link" or
    # "is not regular file", by onnx's version)
    said = ("symbolic link", "not regular file") if how == "symlink" else ("outside the directory",)
    assert "cannot read as onnx" in line and any(s in line for s in said), line
    assert "hunter2" not in r.stdout + r.stderr
