"""Bad input: one clear line on stderr, a non-zero exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import cli_env, run_cli


def _one_line_error(r) -> str:  # type: ignore[no-untyped-def]
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--model", "mobilenet_v9"],
            "unknown model 'mobilenet_v9'; valid: efficientnet_lite0.in1k, mobilenet_v2,",
        ),
        (
            ["--model", "mobilenet_v2", "--compiler", "tflight"],
            "unknown compiler 'tflight'; valid:",
        ),
        (["--model", "mobilenet_v2", "--precision", "int4"], "unknown precision 'int4'; valid:"),
        (["--model", "mobilenet_v2", "--batch", "1,x"], "--batch takes whole numbers"),
        (["--model", "mobilenet_v2", "--batch", "0"], "batch sizes must be"),
        (["--model", "nope/model.onnx"], "no such model file"),
        (["--model", "mobilenet_v2", "--min-runs", "0"], "--min-runs: Input should be greater"),
    ],
)
def test_bad_names_exit_2_with_the_valid_values(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    r = run_cli("run", *args, "--weights", "random", cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 2
    assert needle in _one_line_error(r)
    assert not (tmp_path / "edgebench.db").exists() or "--model" in args


def test_unwritable_db_fails_before_any_work(tmp_path: Path) -> None:
    r = run_cli(
        "run",
        "--model",
        "mobilenet_v2",
        "--compiler",
        "null",
        "--weights",
        "random",
        "--db",
        str(tmp_path / "no" / "such" / "dir" / "r.db"),
        cwd=tmp_path,
        env=cli_env(tmp_path / "c"),
    )
    assert r.returncode == 2
    assert "does not exist" in _one_line_error(r)
    assert not (tmp_path / "c").exists()  # nothing was converted or cached


def test_corrupt_model_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"TFL3" + b"\x00\x17garbage" * 50)
    r = run_cli(
        "run", "--model", str(bad), "--compiler", "null", cwd=tmp_path, env=cli_env(tmp_path / "c")
    )
    assert r.returncode == 2
    assert "broken.tflite" in _one_line_error(r)


def test_unknown_model_format(tmp_path: Path) -> None:
    f = tmp_path / "model.mlmodel"
    f.write_text("x")
    r = run_cli("run", "--model", str(f), cwd=tmp_path, env=cli_env(tmp_path / "c"))
    assert r.returncode == 2
    assert "unknown model format '.mlmodel'" in _one_line_error(r)


def test_missing_pretrained_weights_say_how_to_provide_them(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path / "c", EDGEBENCH_WEIGHTS_URL="http://127.0.0.1:9/", KERAS_HOME=str(tmp_path / "k")
    )
    r = run_cli("run", "--model", "mobilenet_v2", "--compiler", "null", cwd=tmp_path, env=env)
    assert r.returncode == 2
    line = _one_line_error(r)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5" in line
    assert "--weights random gives speed-only figures" in line
    r = run_cli("run", "--model", "ssd_mobilenet_v2", "--compiler", "null", cwd=tmp_path, env=env)
    assert r.returncode == 2 and "--weights random" in _one_line_error(r)


def test_results_on_missing_store(tmp_path: Path) -> None:
    r = run_cli("results", "--db", str(tmp_path / "none.db"), cwd=tmp_path)
    assert r.returncode == 2 and "no results store" in _one_line_error(r)


def test_export_unknown_format_and_run(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    ok = run_cli(
        "run",
        "--model",
        "mobilenet_v2_035_96",
        "--compiler",
        "null",
        "--weights",
        "random",
        "--min-duration",
        "0",
        "--db",
        str(db),
        cwd=tmp_path,
        env=cli_env(tmp_path / "c"),
    )
    assert ok.returncode == 0, ok.stderr
    r = run_cli("export", "--format", "xml", "--db", str(db), cwd=tmp_path)
    assert r.returncode == 2 and "json or csv" in _one_line_error(r)
    r = run_cli("results", "--db", str(db), "--run", "nope", cwd=tmp_path)
    assert r.returncode == 2 and "no run with id 'nope'" in _one_line_error(r)
    csv = run_cli("export", "--format", "csv", "--db", str(db), cwd=tmp_path)
    assert csv.returncode == 0
    header, row = csv.stdout.splitlines()[:2]
    assert header.startswith(
        "run_id,model,model_digest,weights,compiler,accelerator,precision,batch_size"
    )
    assert ",null,cpu,fp32,1," in row


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        (
            "ort_grpah_opt=disable",
            "error: unknown option 'ort_grpah_opt' for onnxruntime (did you mean "
            "'ort_graph_opt'?); its options: clusters, finetune_steps, ort_graph_opt, "
            "ort_int8_activation, ort_int8_weights, ort_provider, prune",
        ),
        (
            "ort_graph_opt=al",
            "error: option ort_graph_opt=al: choose one of disable, basic, extended, all "
            "(for onnxruntime)",
        ),
        ("xnnpak=false", "error: unknown option 'xnnpak' for onnxruntime"),
    ],
)
def test_compiler_options_are_checked_before_any_work(
    tmp_path: Path, option: str, needle: str
) -> None:
    r = run_cli(
        "run", "--model", "mobilenet_v2", "--compiler", "onnxruntime", "--weights", "random",
        "-o", option, "--db", str(tmp_path / "r.db"), cwd=tmp_path, env=cli_env(tmp_path / "c"),
    )  # fmt: skip
    assert r.returncode == 2
    assert _one_line_error(r) == needle or _one_line_error(r).startswith(needle)
    assert not (tmp_path / "r.db").exists()  # refused before the store was touched
    assert not (tmp_path / "c").exists()  # and before any conversion


def test_an_option_of_one_compiler_in_the_grid_is_fine_for_the_others(tmp_path: Path) -> None:
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--compiler", "null,tflite", "--precision",
        "int4", "-o", "xnnpack=false", cwd=tmp_path, env=cli_env(tmp_path / "c"),
    )  # fmt: skip
    # The options pass (xnnpack is tflite's); the precision is what is refused.
    assert r.returncode == 2 and "unknown precision 'int4'" in _one_line_error(r)


def test_compiler_options_are_listed(tmp_path: Path) -> None:
    r = run_cli("compiler", "show", "onnxruntime", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for text in ("ort_graph_opt", "disable, basic, extended, all", "ort_int8_activation"):
        assert text in r.stdout
    r = run_cli("list", "compilers", "--options", cwd=tmp_path)
    assert r.returncode == 0 and "tvm_tune_trials" in r.stdout and "ov_hint" in r.stdout
    r = run_cli("compiler", "show", "tflight", cwd=tmp_path)
    assert r.returncode == 2 and "unknown compiler 'tflight'" in r.stderr
