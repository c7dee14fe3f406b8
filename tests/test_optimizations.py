"""The study's other optimizations: pruning and weight clustering (with their fine-tune), the
compressed size every cell records, and quantizing a .tflite a user brings, each recipe."""

from __future__ import annotations

import json
import math
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_env, run_cli

TINY = ("--model", "mobilenet_v2_035_96", "--weights", "random", "--compiler", "tflite",
        "--min-duration", "0.1", "--min-runs", "5")  # fmt: skip


def _error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    return line


def _cells(r: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert r.returncode == 0, r.stderr[-3000:]
    cells: list[dict[str, Any]] = json.loads(r.stdout)
    return cells


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("prune=1.5", "prune=1.5: must be at most 0.95"),
        ("clusters=1", "clusters=1: one value per channel"),
        ("clusters=abc", "clusters=abc: takes a whole number"),
        ("prune=-0.1", "prune=-0.1: must be at least 0"),
    ],
)
def test_bad_optimization_settings_are_refused_before_any_work(
    tmp_path: Path, option: str, needle: str
) -> None:
    r = run_cli("run", *TINY, "-o", option, "--db", "r.db", cwd=tmp_path)
    assert r.returncode == 2 and needle in _error_line(r)
    assert not (tmp_path / "r.db").exists()


def _keras_file(path: Path, layers: list[dict[str, Any]]) -> Path:
    """A .keras archive holding only its config (enough for the check, made without Keras)."""
    config = {"class_name": "Functional", "config": {"layers": layers}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", "{}")
    return path


def test_pruning_a_model_with_nothing_to_prune_is_refused_before_any_work(tmp_path: Path) -> None:
    flat = _keras_file(tmp_path / "flat.keras", [{"class_name": "InputLayer"},
                                                  {"class_name": "ReLU"}])  # fmt: skip
    r = run_cli("run", "--model", str(flat), "--compiler", "tflite", "-o", "prune=0.5",
                "--db", "r.db", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "no layer to prune or cluster" in _error_line(r)
    (tmp_path / "m.tflite").write_bytes(b"TFL3")
    r = run_cli("run", "--model", str(tmp_path / "m.tflite"), "--compiler", "tflite", "-o",
                "clusters=16", "--db", "r.db", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "work on a Keras model" in _error_line(r)


@pytest.mark.tflite
def test_clustering_and_pruning_shrink_the_download_and_say_what_they_did(
    tmp_path: Path, shared_cache: Path
) -> None:
    env = cli_env(shared_cache)
    common = (*TINY, "--calib-dataset", "photos", "--json", "--db", "r.db")
    plain = _cells(run_cli("run", *common, cwd=tmp_path, env=env, timeout=900))[0]
    clustered = _cells(run_cli("run", *common, "-o", "clusters=16", "-o", "finetune_steps=3",
                               cwd=tmp_path, env=env, timeout=900))[0]  # fmt: skip
    pruned = _cells(run_cli("run", *common, "-o", "prune=0.5", "-o", "finetune_steps=3",
                            cwd=tmp_path, env=env, timeout=900))[0]  # fmt: skip
    for cell in (plain, clustered, pruned):
        assert cell["status"] == "ok", cell["error"]
        assert 0 < cell["model_size_gzip_mb"] <= cell["model_size_mb"]
    assert clustered["model_size_gzip_mb"] < 0.5 * plain["model_size_gzip_mb"]
    assert pruned["model_size_gzip_mb"] < 0.8 * plain["model_size_gzip_mb"]
    done = clustered["artifact_info"]["weight_optimization"]
    assert done["clusters"] == 16 and done["largest_distinct_values"] <= 16
    assert done["finetune"]["steps"] == 3 and done["finetune"]["data"].startswith("photos")
    assert "optimize_weights" in [s["step"] for s in clustered["convert_steps"]]
    assert 0.49 <= pruned["artifact_info"]["weight_optimization"]["sparsity"] <= 0.51
    # explain reads the .tflite itself: the zeros and the distinct values are in the weights
    r = run_cli("explain", *TINY, "-o", "prune=0.5", "-o", "finetune_steps=3",
                "--calib-dataset", "photos", "--runs", "3", "--db", "r.db", cwd=tmp_path,
                env=env, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("weights"))
    assert "% zeros" in line and float(line.split("values, ")[1].split("%")[0]) > 40


@pytest.mark.tflite
def test_a_users_tflite_is_quantized_by_each_recipe_and_its_fidelity_scored(
    tmp_path: Path, shared_cache: Path
) -> None:
    """'a .tflite model is measured as it is: int8 needs its source' is gone: most users have
    only the .tflite."""
    env = cli_env(shared_cache)
    (fp32,) = _cells(run_cli("run", *TINY, "--no-fidelity", "--json", "--db", "r.db",
                             cwd=tmp_path, env=env, timeout=900))  # fmt: skip
    theirs = tmp_path / "theirs.tflite"
    theirs.write_bytes(Path(fp32["artifact_path"]).read_bytes())
    r = run_cli("run", "--model", str(theirs), "--compiler", "tflite", "--precision",
                "int8,int4-weights,int8-weights,int8x16,int8-dynamic,fp16", "--calib-dataset",
                "photos", "--dataset", "photos", "--min-duration", "0.1", "--json", "--db",
                "r.db", cwd=tmp_path, env=env, timeout=900)  # fmt: skip
    cells = {c["precision"]: c for c in _cells(r)}
    for precision, cell in cells.items():
        assert cell["status"] == "ok", (precision, cell["error"])
        assert cell["artifact_info"]["recipe"].startswith("litert-quantizer: ")
        # 4-bit weights on this random network's [0, 1] inputs may lose it all (SNR -1.9 dB)
        assert cell["fidelity"]["snr_db"] > 0 or precision == "int4-weights", (
            precision,
            cell["fidelity"],
        )
        assert cell["model_size_mb"] < 0.6 * fp32["model_size_mb"] or precision == "int8x16"
    assert cells["int8"]["artifact_info"]["calibration"]["source"] == "photos"
    assert cells["int4-weights"]["model_size_mb"] < cells["int8-weights"]["model_size_mb"]
    snr = {p: cells[p]["fidelity"]["snr_db"] for p in ("int4-weights", "int8-weights")}
    assert math.isfinite(snr["int4-weights"]) and snr["int4-weights"] < snr["int8-weights"]
    # A cell below the fidelity floor says so where its figure is (it printed as plain `ok`)
    from edgebench.results import CellResult, fidelity_verdict

    for precision, cell in cells.items():
        why = fidelity_verdict(CellResult.from_dict(cell))
        assert cell["fidelity"].get("failed") == why, (precision, cell["fidelity"])
        assert any(w == f"fidelity: {why}" for w in cell["warnings"]) == bool(why)
        assert (f"warning: fidelity: {why}" in r.stderr) == bool(why), precision
    # A .tflite already quantized is refused with the reason, not quantized twice.
    (int8,) = _cells(run_cli("run", *TINY, "--precision", "int8", "--no-fidelity", "--json",
                             "--db", "r.db", cwd=tmp_path, env=env, timeout=900))  # fmt: skip
    quantized = tmp_path / "quantized.tflite"
    quantized.write_bytes(Path(int8["artifact_path"]).read_bytes())
    r = run_cli("run", "--model", str(quantized), "--compiler", "tflite", "--precision",
                "int8-weights", "--no-fidelity", "--json", "--db", "r.db", cwd=tmp_path,
                env=env, timeout=900)  # fmt: skip
    (cell,) = json.loads(r.stdout)
    assert cell["status"] == "unsupported" and "already quantized" in cell["error"]
