"""Reports from stored synthetic results: HTML in headless Chromium, Markdown, CSV, figure files,
the Pareto front, and one-line errors for an empty store or an unknown run."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import run_cli
from edgebench.report.figures import (
    Figure,
    Point,
    Series,
    model_figures,
    pareto_front,
    to_svg,
)
from edgebench.results import CellResult
from edgebench.store import ResultStore

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# (compiler, precision): (latency ms at batch 1, size MB)
GRID = {
    ("tensorflow", "fp32"): (14.0, 14.0),
    ("tflite", "fp32"): (2.0, 13.3),
    ("tflite", "fp16"): (2.1, 6.7),
    ("tflite", "int8"): (0.9, 3.8),
    ("tflite", "int8-dynamic"): (7.6, 3.6),
}


def _host(name: str) -> dict:
    return {"hostname": name, "cpu": {"model": f"{name} CPU", "usable_cores": 2}, "os": "Linux"}


def make_cell(
    run_id: str,
    model: str,
    compiler: str,
    precision: str,
    batch: int,
    host: str,
    scale: float = 1.0,
    seed: int = 0,
    **extra: object,
) -> CellResult:
    base, size = GRID[(compiler, precision)]
    rng = random.Random(seed)
    per_batch = base * scale * (1 + 0.7 * (batch - 1))
    samples = [per_batch * (1 + 0.02 * rng.random()) for _ in range(40)]
    cell = CellResult(
        run_id,
        model,
        "random",
        compiler,
        precision,
        batch,
        2,
        "ok",
        system=_host(host),
        model_size_mb=size,
    )
    cell.with_samples(samples, batch, sum(samples) / 1000)
    for k, v in extra.items():
        setattr(cell, k, v)
    return cell


def make_store(path: Path) -> list[str]:
    """Two runs on two hosts: the study's figure kinds all have something to draw."""
    with ResultStore(path) as store:
        for run_id, host, scale in (("run-a", "pi", 3.0), ("run-b", "epyc", 1.0)):
            store.add_run(run_id, _host(host), {}, "0.1.0", None)
            for model in ("mobilenet_v2", "resnet50_v2"):
                for compiler, precision in GRID:
                    for batch in (1, 8):
                        noisy = {"noise_cpu_pct": 30.0} if precision == "fp16" else {}
                        store.add_cell(
                            make_cell(
                                run_id, model, compiler, precision, batch, host, scale, **noisy
                            )
                        )
            failed = CellResult(
                run_id,
                "mobilenet_v2",
                "random",
                "tflite",
                "bf16",
                1,
                2,
                "unsupported",
                error="tflite has no bf16 mode",
            )
            store.add_cell(failed)
    return ["run-a", "run-b"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("report") / "r.db"
    make_store(db)
    return db


def test_pareto_front() -> None:
    pts = [(1.0, 10.0), (2.0, 5.0), (3.0, 6.0), (0.5, 20.0), (2.0, 5.0)]
    assert pareto_front(pts, (False, False)) == [True, True, False, True, True]
    # accuracy (maximised) against latency: the slower, less accurate point is dominated
    assert pareto_front([(1.0, 0.7), (2.0, 0.75), (3.0, 0.72)], (False, True)) == [
        True,
        True,
        False,
    ]


def test_model_figures_cover_the_study(store: Path) -> None:
    with ResultStore(store) as s:
        cells = [c for c in s.cells("run-b") if c.model == "mobilenet_v2"]
    cells[0].power_w = {"avg": 4.5}  # type: ignore[attr-defined]  # fields another module adds
    cells[0].energy_j_per_inf = 0.01  # type: ignore[attr-defined]
    figs = {f.key: f for f in model_figures("mobilenet_v2", cells)}
    assert set(figs) == {"throughput", "latency", "size", "power", "energy", "tradeoff"}
    thr = figs["throughput"]
    assert thr.kind == "lines" and thr.x_log2
    assert {s.name for s in thr.series} == {f"{c} {p}" for c, p in GRID}
    for s in thr.series:
        assert [p.x for p in s.points] == [1, 8]
        assert s.points[1].y > s.points[0].y  # batching raises throughput here
    assert all(p.low is not None for s in figs["latency"].series for p in s.points)
    front = {p.label for p in figs["tradeoff"].series[0].points if p.front}
    # latency vs size (no accuracy): int8 is fastest and nearly smallest, int8-dynamic smallest
    assert front == {"tflite int8", "tflite int8-dynamic"}
    svg = to_svg(figs["tradeoff"])
    assert 'class="pareto"' in svg and svg.count('class="point front"') == 2
    assert "\u2020" in to_svg(thr)  # random weights are marked


def test_accuracy_tradeoff_uses_accuracy() -> None:
    cells = [
        make_cell("r", "m", "tflite", "fp32", 1, "h", accuracy={"top1": 0.72}),
        make_cell("r", "m", "tflite", "int8", 1, "h", accuracy={"top1": 0.70}),
        make_cell(
            "r", "m", "tflite", "int8-dynamic", 1, "h", accuracy={"top1": 0.69}, model_size_mb=4.0
        ),  # slower, less accurate and larger than int8
    ]
    (trade,) = [f for f in model_figures("m", cells) if f.key == "tradeoff"]
    assert trade.y_label == "top1"
    assert {p.label: p.front for p in trade.series[0].points} == {
        "tflite fp32": True,
        "tflite int8": True,
        "tflite int8-dynamic": False,
    }


def test_the_trade_off_png_names_each_cell_in_a_legend() -> None:
    """The `--figures` PNGs had no legend: which colour was which cell could not be read."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from edgebench.report.figures import _draw_matplotlib

    cells = [
        make_cell("r", "m", "tflite", "fp32", 1, "h", accuracy={"top1": 0.72}),
        make_cell("r", "m", "tflite", "int8", 1, "h", accuracy={"top1": 0.70}),
    ]
    (trade,) = [f for f in model_figures("m", cells) if f.key == "tradeoff"]
    figure, ax = plt.subplots()
    try:
        _draw_matplotlib(ax, trade)
        legend = ax.get_legend()
        assert legend is not None
        assert {t.get_text() for t in legend.get_texts()} >= {"tflite fp32", "tflite int8"}
    finally:
        plt.close(figure)


def test_a_bar_chart_keeps_its_category_names_whole() -> None:
    """The size chart's first label read `onnxruntime f...`: slanted to the left it had only
    the figure's left margin."""
    from edgebench.report.figures import to_svg

    cats = ["onnxruntime fp32", "onnxruntime int8", "tflite int8-dynamic", "openvino fp32",
            "openvino int8", "tflite fp32", "tflite fp16", "tflite int8", "tensorflow fp32",
            "tvm fp32"]  # fmt: skip
    bars = [Series("on disk", [Point(c, 1.0 + i) for i, c in enumerate(cats)])]
    fig = Figure("size", "bars", "m: size", "", "MB", bars, cats)
    svg = to_svg(fig)
    for cat in cats:
        assert f">{cat}</text>" in svg, cat


def test_trade_off_labels_sit_over_the_markers_and_off_the_pareto_line() -> None:
    """On the trade-off chart the Pareto line ran through a label and labels hid under
    markers drawn after them."""
    import re

    from edgebench.report.figures import CHAR_W, _crosses, to_svg

    pts = [Point(1.0 + i, 0.70 + 0.01 * i, label=f"compiler{i} int8", size=4.0, front=True)
           for i in range(5)]  # fmt: skip
    pts += [Point(2.5, 0.705, label="other fp32", size=9.0)]
    svg = to_svg(Figure("tradeoff", "scatter", "m", "ms", "top1", [Series("cells", pts)]))
    assert svg.rfind('<circle class="point') < svg.find('class="point-label"')
    (line,) = re.findall(r'class="pareto" points="([^"]+)"', svg)
    polyline = [tuple(float(v) for v in xy.split(",")) for xy in line.split()]
    labels = re.findall(
        r'class="point-label" x="([\d.]+)" y="([\d.]+)" font-size="10" text-anchor="(\w+)">'
        r"([^<]+)<",
        svg,
    )
    assert labels
    for x, y, anchor, text in labels:
        w, tx, ty = CHAR_W * len(text), float(x), float(y)
        left = {"start": tx, "end": tx - w, "middle": tx - w / 2}[anchor]
        assert not _crosses(polyline, (left, ty - 9, left + w, ty + 2)), text


def test_svg_is_well_formed() -> None:
    import xml.etree.ElementTree as ET

    fig = Figure(
        "t", "bars", "a <title> & more", "", "MB", [Series("s", [Point("a&b", 1.0)])], ["a&b"]
    )
    ET.fromstring(to_svg(fig))


def test_report_formats_and_figure_files(store: Path, tmp_path: Path) -> None:
    r = run_cli(
        "report",
        "--db",
        str(store),
        "--run",
        "run-a",
        "--run",
        "run-b",
        "--format",
        "md",
        "-o",
        str(tmp_path / "r.md"),
        "--figures",
        str(tmp_path / "figs"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "r.md").read_text()
    assert "## mobilenet_v2" in md and "| tflite | int8 | 8 | ok |" in md
    assert "![mobilenet_v2-throughput](figs/mobilenet_v2-throughput.svg)" in md
    assert "## Device against device" in md and "(figs/hosts-resnet50_v2.svg)" in md
    svgs = sorted(p.name for p in (tmp_path / "figs").glob("*.svg"))
    assert "mobilenet_v2-throughput.svg" in svgs and "hosts-resnet50_v2.svg" in svgs
    pytest.importorskip("matplotlib")
    pngs = list((tmp_path / "figs").glob("*.png"))
    assert len(pngs) == len(svgs)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

    r = run_cli(
        "report",
        "--db",
        str(store),
        "--run",
        "run-b",
        "--format",
        "csv",
        "-o",
        str(tmp_path / "r.csv"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert len(rows) == 21 and {row["run_id"] for row in rows} == {"run-b"}


def _one_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_report_on_an_empty_store_or_unknown_run(store: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    ResultStore(empty).close()
    assert "holds no runs" in _one_error(run_cli("report", "--db", str(empty), cwd=tmp_path))
    missing = run_cli("report", "--db", str(tmp_path / "none.db"), cwd=tmp_path)
    assert "no results store" in _one_error(missing)
    unknown = run_cli("report", "--db", str(store), "--run", "nope", cwd=tmp_path)
    assert "no run with id 'nope'" in _one_error(unknown)
    with ResultStore(empty) as s:
        s.add_run("bare", {}, {}, "0", None)
    assert "holds no results" in _one_error(run_cli("report", "--db", str(empty), cwd=tmp_path))
    bad = run_cli("report", "--db", str(store), "--format", "pdf", cwd=tmp_path)
    assert "--format takes html, md, csv" in _one_error(bad)


def test_report_in_headless_chromium(store: Path, tmp_path: Path, chromium: Path) -> None:
    html = tmp_path / "report.html"
    r = run_cli(
        "report",
        "--db",
        str(store),
        "--run",
        "run-a",
        "--run",
        "run-b",
        "-o",
        str(html),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        flags = [
            str(chromium),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
        ]
        # The DOM after the page's own script ran: the sortable tables are wired up, and every
        # figure is there. A line of script records how wide the page is laid out at 1280 px.
        measured = tmp_path / "measured.html"
        measured.write_text(
            html.read_text().replace(
                "</body>",
                "<script>document.body.dataset.width=document.documentElement.scrollWidth;"
                "</script></body>",
            )
        )
        dom = subprocess.run(
            [*flags, "--window-size=1280,1000", "--dump-dom", measured.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        shot_run = subprocess.run(
            [*flags, f"--screenshot={shot}", "--window-size=1280,2000", html.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    for run in (dom, shot_run):
        console = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
        assert not console, "\n".join(console)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    for model in ("mobilenet_v2", "resnet50_v2"):
        for key in ("throughput", "latency", "size", "tradeoff"):
            assert f'id="fig-{model}-{key}"' in page, (model, key)
        assert f'data-figure="hosts-{model}"' in page
    assert len(re.findall(r"<svg[^>]*class=\"eb-figure\"", page)) == 2 * 4 + 2
    assert page.count('class="pareto"') == 2
    assert shot.is_file() and shot.stat().st_size > 20_000
    # No horizontal scroll at 1280 px: the wide table of every field scrolls in its own box.
    width = re.search(r'data-width="(\d+)"', page)
    assert width and int(width.group(1)) <= 1280, width
    assert "<details><summary>All fields</summary>" in page
    # Plain numbers on axes, and Pareto names that do not overlap.
    assert not re.search(r">\d(\.\d+)?e[+-]\d+<", page)
    labelled = 0
    for svg in page.split("<svg")[1:]:
        boxes = [
            (float(x), float(y), len(label))
            for x, y, label in re.findall(
                r'class="point-label" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)<', svg
            )
        ]
        labelled += len(boxes)
        for i, (x1, y1, n1) in enumerate(boxes):
            for x2, y2, _ in boxes[i + 1 :]:
                assert abs(y1 - y2) >= 10 or abs(x1 - x2) >= 5 * n1, (boxes[i], (x2, y2))
    assert labelled


def _explained(precision: str, conv_ms: float) -> dict:
    categories = [
        {"category": "conv", "ms": conv_ms, "share": conv_ms / (conv_ms + 0.3)},
        {"category": "unattributed", "ms": 0.3, "share": 0.3 / (conv_ms + 0.3)},
    ]
    return {
        "before": {"format": "savedmodel", "nodes": 120, "categories": {"conv": 52}},
        "after": {"format": "tflite", "nodes": 66, "categories": {"conv": 52}},
        "fusions": [{"before": "Conv2D+Mul+AddV2+Relu6", "after": "CONV_2D+RELU6", "count": 35}],
        "placement": {"engines": {"XNNPACK": 65, "TFLite kernels": 1},
                      "fallback_ops": {"CUMSUM": 1}},
        "profile": {"source": "LiteRT profiler", "measured_ms": conv_ms + 0.3,
                    "categories": categories, "top_ops": [], "runs": 20},
    }  # fmt: skip


def test_where_the_time_goes_stacks_op_categories_per_explained_cell() -> None:
    from edgebench.report.html import render

    cells = [
        make_cell("r1", "m", "tflite", "fp32", 1, "a", explain=_explained("fp32", 1.5)),
        make_cell("r1", "m", "tflite", "int8", 1, "a", explain=_explained("int8", 0.6)),
        make_cell("r1", "m", "tensorflow", "fp32", 1, "a"),  # not explained: no bar
    ]
    fig = next(f for f in model_figures("m", cells) if f.key == "where-time-goes")
    assert fig.stacked and fig.categories == ["tflite fp32 b1", "tflite int8 b1"]
    assert [s.name for s in fig.series] == ["conv", "unattributed"]
    svg = to_svg(fig)
    assert svg.count('class="bar"') == 4  # two segments in each of two bars
    assert ">1.8<" in svg and ">0.9<" in svg  # each bar's total: the profiled latency
    page = render([], cells)
    assert "What each compiler did" in page and "CUMSUM 1" in page
    assert "Conv2D+Mul+AddV2+Relu6 &rarr; CONV_2D+RELU6 &times;35" in page
    from edgebench.report.markdown import render_markdown

    md = render_markdown([], cells)
    assert "fused       Conv2D+Mul+AddV2+Relu6 -> CONV_2D+RELU6 x35" in md
    assert "fallback    CUMSUM 1" in md


def _strict_json(text: str) -> object:
    """Parses as JavaScript's JSON.parse and jq do: Infinity and NaN are errors."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_outputs_parse_with_a_strict_parser(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.add_run("run-a", _host("pi"), {}, "0.1.0", None)
        store.add_run("run-b", _host("pi"), {}, "0.1.0", None)
        for run_id in ("run-a", "run-b"):
            cell = make_cell(run_id, "mobilenet_v2", "tflite", "fp32", 1, "pi")
            cell.fidelity = {"top1_agreement": 1.0, "snr_db": math.inf, "cosine": math.nan}
            store.add_cell(cell)
    outputs = [
        run_cli("export", "--format", "json", "--db", str(db), cwd=tmp_path),
        run_cli("results", "--json", "--db", str(db), cwd=tmp_path),
        run_cli("compare", "run-a", "run-b", "--json", "--db", str(db), cwd=tmp_path),
    ]
    for r in outputs:
        assert r.returncode == 0, r.stderr
        _strict_json(r.stdout)
    (record,) = _strict_json(outputs[0].stdout)  # type: ignore[misc]
    assert record["fidelity"]["snr_db"] is None and record["fidelity"]["cosine"] is None


def test_the_coverage_matrix_says_where_each_model_stopped() -> None:
    from edgebench.report.coverage import coverage, markdown

    ok = make_cell("r", "ppocr-det", "tflite", "fp32", 1, "a")
    ok.fidelity = {"snr_db": 120.0}
    noisy_int8 = make_cell("r", "ppocr-det", "tflite", "int8", 1, "a")
    noisy_int8.fidelity = {"snr_db": 4.0}
    route = CellResult(
        "r",
        "ppocr-det",
        "file:x",
        "executorch",
        "fp32",
        1,
        2,
        "unsupported",
        error="no conversion route from onnx to executorch (it takes torch)",
    )
    broken = CellResult(
        "r",
        "ppocr-det",
        "file:x",
        "onnxruntime",
        "int8",
        1,
        2,
        "failed",
        error="conversion failed: InvalidGraph: DequantizeLinear tensor(int32)",
    )
    fine = CellResult("r", "ppocr-det", "file:x", "onnxruntime", "fp32", 1, 2, "ok")
    fine.fidelity = {"top1_agreement": 1.0, "snr_db": 90.0}
    cov = coverage([ok, noisy_int8, route, broken, fine])
    assert cov.percent("tflite") == 50 and cov.percent("onnxruntime") == 50
    assert cov.percent("executorch") == 0
    text = "\n".join(markdown(cov))
    assert "| ppocr-det | \u2713 | \u2717 fidelity [1] | \u2717 route [2] |" in text
    assert "SNR 4.0 dB &lt; 10 dB" in text and "no conversion route from onnx" in text
    assert "- tflite: 50%" in text and "\u2717 convert" in text


def test_an_int8_fidelity_failure_says_whether_weights_or_activations_lost_it() -> None:
    """PP-OCRv4's detector under ORT int8: 4.7 dB, while its weights alone rounded to int8
    keep 13.1 dB. The square said only "SNR 4.7 dB < 10 dB"; it now says where the loss is."""
    from edgebench.results import fidelity_verdict

    def cell(model: str, compiler: str) -> CellResult:
        return CellResult("r", model, "file:m.onnx", compiler, "int8", 1, 2, "ok")

    det = cell("ppocrv4-det", "onnxruntime")
    det.fidelity = {"snr_db": 4.7}
    det.artifact_info = {"int8": {"weights_alone_snr_db": 13.1}}
    assert fidelity_verdict(det) == (
        "SNR 4.7 dB < 10 dB; its weights alone rounded to int8 give 13.1 dB: the rest is lost "
        "to the activations' 8-bit ranges"
    )
    pose = cell("pose-landmark-lite", "onnxruntime")
    pose.fidelity = {"snr_db": -0.5}
    pose.artifact_info = {"int8": {"weights_alone_snr_db": 4.5}}
    assert "the model, not the quantizer, is int8-sensitive" in str(fidelity_verdict(pose))
    nncf = cell("ppocrv4-det", "openvino")  # NNCF's build keeps no such diagnosis
    nncf.fidelity = {"snr_db": 5.9}
    assert fidelity_verdict(nncf) == "SNR 5.9 dB < 10 dB"


def test_a_model_file_under_its_own_runtime_is_not_failed_for_its_flat_outputs() -> None:
    """The keyword spotter's .tflite under LiteRT fp32 is its own reference; its outputs do not
    vary on random inputs, and its square read "fidelity: the FP32 reference's outputs do not
    vary" though there was nothing for it to disagree with. Another compiler's square still
    says so."""
    from edgebench.accuracy.metrics import FLAT_REFERENCE
    from edgebench.report.coverage import square

    own = CellResult("r", "okay-nabu", "file:m.tflite", "tflite", "fp32", 1, 2, "ok")
    own.fidelity = {"reference": "tflite fp32", "n": 10, "error": FLAT_REFERENCE}
    assert square(own).passed
    other = CellResult("r", "okay-nabu", "file:m.tflite", "onnxruntime", "fp32", 1, 2, "ok")
    other.fidelity = {"reference": "tflite fp32", "n": 10, "error": FLAT_REFERENCE}
    assert (square(other).stage, square(other).reason) == ("fidelity", FLAT_REFERENCE)


def test_zoo_reports_have_no_coverage_matrix_and_devices_get_a_target_column() -> None:
    """`make bench`'s zoo models convert everywhere, and their random-weight int8 cells would
    all read as failed: the matrix is for model files. A run over devices names each row's."""
    from edgebench.report.coverage import worth_showing
    from edgebench.report.markdown import render_markdown

    here = make_cell("r", "mobilenet_v2", "tflite", "int8", 1, "a")
    board = make_cell("r", "mobilenet_v2", "tflite", "int8", 1, "a")
    board.target = {"name": "arm64", "emulated": True}
    baseline = make_cell("r", "mobilenet_v2", "tensorflow", "fp32", 1, "a")
    assert not worth_showing([here, board, baseline])
    md = render_markdown([], [here, board, baseline])
    assert "Which compiler takes which model" not in md
    assert "| compiler | precision | batch | target |" in md
    assert "| tflite | int8 | 1 | arm64* |" in md and "| tflite | int8 | 1 | local |" in md
    from edgebench.report.figures import host_figures

    (fig,) = host_figures([here, board, baseline])  # one host's CPU, told apart by the target
    assert sorted(s.name for s in fig.series) == ["a (a CPU)", "arm64*: a (a CPU)"]
    users = CellResult("r", "net", "file:net.onnx", "onnxruntime", "fp32", 1, 2, "ok")
    assert worth_showing([users, baseline])
