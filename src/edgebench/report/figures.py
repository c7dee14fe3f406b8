"""The study's figures, rebuilt from stored cells: one description, drawn twice.

`model_figures` and `host_figures` describe each figure (kind, axes, series, points, marks) as
plain data; `to_svg` draws it as standalone inline SVG (no library, for the HTML report and for
`--figures DIR`), and `save_png` draws the same description with matplotlib when it is
installed (figures for papers). Nothing here imports a framework.

Per model: throughput against batch size per compiler and precision, median latency against
batch size with its 95% confidence interval, model size bars, power and energy bars (when the
cells carry power figures) and an accuracy-latency-size trade-off chart that marks the Pareto
front (latency against size when no cell has an accuracy figure). With several hosts in the
cells, host-against-host bars of throughput. Random-weight cells are marked with a dagger and
noisy ones with an asterisk, on every figure.
"""

from __future__ import annotations

import html
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgebench.report.table import option_changes
from edgebench.results import NOISY_PCT, CellResult

PALETTE = (
    "#4269d0",
    "#efb118",
    "#ff725c",
    "#6cc5b0",
    "#3ca951",
    "#ff8ab7",
    "#a463f2",
    "#97bbf5",
    "#9c6b4e",
    "#9498a0",
)


@dataclass
class Point:
    x: float | str  # a number (lines, scatter) or a category (bars)
    y: float
    low: float | None = None  # error bar, e.g. the median's 95% confidence interval
    high: float | None = None
    marks: str = ""  # \u2020 random weights, * noisy
    label: str = ""  # tooltip and, on a Pareto front, the point's name
    size: float | None = None  # scatter: bubble area follows it (model size)
    front: bool = False  # on the Pareto front


@dataclass
class Series:
    name: str
    points: list[Point] = field(default_factory=list)


@dataclass
class Figure:
    key: str  # file name part: {model}-{key}.svg
    kind: Literal["lines", "bars", "scatter"]
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    categories: list[str] = field(default_factory=list)  # bars: the groups along x
    x_log2: bool = False
    note: str = ""
    stacked: bool = False  # bars: the series stack up in one bar per category

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.key)


# --- what the figures show -------------------------------------------------------------------
SOFTWARE_MARK = "\u00a7"  # a software device: a CPU standing in for a GPU or an NPU
FIDELITY_MARK = "!"  # outputs below the fidelity floor against the FP32 reference


def marks_of(c: CellResult) -> str:
    marks = ""
    if c.weights == "random":
        marks += "\u2020"
    if (c.noise_cpu_pct is not None and c.noise_cpu_pct > NOISY_PCT) or c.drifted:
        marks += "*"
    if c.software_device:
        marks += SOFTWARE_MARK
    if c.fidelity_failed:
        marks += FIDELITY_MARK
    return marks


def host_of(c: CellResult) -> str:
    """The machine a cell ran on: host name and CPU, and the target's name for a cell measured
    on a target (a loopback target and this host share a name and a CPU)."""
    system = c.system or {}
    cpu = (system.get("cpu") or {}).get("model") or "?"
    machine = f"{system.get('hostname') or '?'} ({cpu})"
    if not c.target:
        return machine
    return f"{c.target_name}{'*' if c.emulated else ''}: {machine}"


def series_name(c: CellResult, with_host: bool = False) -> str:
    on = "" if c.accelerator == "cpu" else f" {c.accelerator}"
    name = f"{c.compiler}{on} {c.precision}"
    changed = option_changes(c)
    if changed:  # a pruned or clustered cell beside the plain one of its precision
        name += f" {changed}"
    scenario = (c.loadgen or {}).get("scenario")
    if scenario:
        name += f" [{scenario}]"
    if with_host:
        name += f" @ {(c.system or {}).get('hostname') or '?'}"
    return name


def _power(c: CellResult) -> float | None:
    power = getattr(c, "power_w", None)
    if isinstance(power, dict):
        value = power.get("avg", power.get("mean"))
        return float(value) if isinstance(value, (int, float)) else None
    return float(power) if isinstance(power, (int, float)) else None


def _energy(c: CellResult) -> float | None:
    value = getattr(c, "energy_j_per_inf", None)
    return float(value) if isinstance(value, (int, float)) else None


def _accuracy(c: CellResult) -> tuple[str, float] | None:
    acc = c.accuracy or {}
    for name in ("top1", "map"):
        if isinstance(acc.get(name), (int, float)):
            return name, float(acc[name])
    return None


def pareto_front(points: Sequence[tuple[float, ...]], maximize: Sequence[bool]) -> list[bool]:
    """Which points no other point dominates (at least as good everywhere, better somewhere)."""

    def better_eq(a: float, b: float, mx: bool) -> bool:
        return a >= b if mx else a <= b

    out = []
    for i, p in enumerate(points):
        dominated = False
        for j, q in enumerate(points):
            if i == j:
                continue
            if all(better_eq(q[k], p[k], mx) for k, mx in enumerate(maximize)) and any(
                q[k] != p[k] for k in range(len(p))
            ):
                dominated = True
                break
        out.append(not dominated)
    return out


def _latest(cells: Sequence[CellResult], with_host: bool) -> dict[tuple[str, int], CellResult]:
    """One ok cell per (series, batch): the last one stored."""
    by: dict[tuple[str, int], CellResult] = {}
    for c in cells:
        if c.status == "ok":
            by[(series_name(c, with_host), c.batch_size)] = c
    return by


def model_figures(model: str, cells: Sequence[CellResult]) -> list[Figure]:
    """The study's figures for one model's cells."""
    with_host = len({host_of(c) for c in cells if c.status == "ok"}) > 1
    by = _latest(cells, with_host)
    if not by:
        return []
    names = sorted({s for s, _ in by})
    batches = sorted({b for _, b in by})
    figures: list[Figure] = []

    def lines(key: str, title: str, y_label: str, value: Any, ci: bool = False) -> None:
        series = []
        for name in names:
            pts = []
            for b in batches:
                c = by.get((name, b))
                v = value(c) if c else None
                if v is None:
                    continue
                lo = hi = None
                if ci and c is not None and c.latency_ms is not None:
                    lo, hi = c.latency_ms.ci95_low, c.latency_ms.ci95_high
                pts.append(Point(b, v, lo, hi, marks_of(c) if c else "", f"{name} batch {b}"))
            if pts:
                series.append(Series(name, pts))
        if series:
            figures.append(Figure(key, "lines", title, "batch size", y_label, series, x_log2=True))

    lines(
        "throughput",
        f"{model}: throughput against batch size",
        "images/s",
        lambda c: c.throughput_ips,
    )
    lines(
        "latency",
        f"{model}: median latency per batch (95% CI)",
        "ms per batch",
        lambda c: c.latency_ms.p50 if c.latency_ms else None,
        ci=True,
    )
    smallest = {name: min(b for s, b in by if s == name) for name in names}

    def bars(key: str, title: str, y_label: str, value: Any) -> None:
        pts = []
        for name in names:
            c = by[(name, smallest[name])]
            v = value(c)
            if v is not None:
                pts.append(Point(name, v, marks=marks_of(c), label=f"{name} batch {c.batch_size}"))
        if any(p.y > 0 for p in pts):  # the null compiler has no artifact: no size figure
            figures.append(
                Figure(key, "bars", title, "", y_label, [Series(y_label, pts)], [p.x for p in pts])  # type: ignore[misc]
            )

    sizes = [
        Series(label, [
            Point(n, v, marks=marks_of(c), label=f"{n}: {label}")
            for n in names
            if (v := value(c := by[(n, smallest[n])])) is not None
        ])
        for label, value in (("on disk", lambda c: c.model_size_mb),
                             ("gzip -9", lambda c: c.model_size_gzip_mb))
    ]  # fmt: skip
    sizes = [s for s in sizes if any(p.y > 0 for p in s.points)]
    if sizes:  # the null compiler has no artifact: no size figure
        figures.append(
            Figure(
                "size",
                "bars",
                f"{model}: model size, on disk and gzip -9",
                "",
                "MB",
                sizes,
                list(names),
            )  # fmt: skip
        )
    bars("power", f"{model}: average power while timed", "W", _power)
    bars("energy", f"{model}: energy per inference", "J per inference", _energy)
    trade = tradeoff_figure(model, [by[(n, smallest[n])] for n in names], with_host)
    if trade is not None:
        figures.append(trade)
    where = time_figure(model, cells, with_host)
    if where is not None:
        figures.append(where)
    return figures


def time_figure(model: str, cells: Sequence[CellResult], with_host: bool = False) -> Figure | None:
    """Where the time goes (`edgebench explain`): one stacked bar per explained cell, its
    profiled latency split by op category, the unattributed part on top."""
    from edgebench.explain.profile import UNATTRIBUTED
    from edgebench.explain.taxonomy import CATEGORIES

    profiled = []
    for c in cells:
        profile = (c.explain or {}).get("profile") or {}
        if c.status == "ok" and profile.get("categories"):
            label = f"{series_name(c, with_host)} b{c.batch_size}"
            profiled.append((label, c, {x["category"]: x["ms"] for x in profile["categories"]}))
    if not profiled:
        return None
    used = [k for k in (*CATEGORIES, UNATTRIBUTED) if any(ms.get(k) for _, _, ms in profiled)]
    series = [
        Series(
            k,
            [
                Point(label, ms.get(k, 0.0), marks=marks_of(c), label=f"{label}: {k}")
                for label, c, ms in profiled
            ],
        )
        for k in used
    ]
    return Figure(
        "where-time-goes",
        "bars",
        f"{model}: where the time goes (per op category)",
        "",
        "ms per run (profiled)",
        series,
        [label for label, _, _ in profiled],
        stacked=True,
        note="From each compiler's own profiler; unattributed: the part of the measured "
        "latency no op accounts for (runtime overhead, copies).",
    )


def tradeoff_figure(
    model: str, cells: Sequence[CellResult], with_host: bool = False
) -> Figure | None:
    """Accuracy against latency (bubble area: size), or size against latency, with the
    Pareto front marked: the cells that no other cell beats on every axis at once."""
    cells = [c for c in cells if c.latency_ms is not None]
    with_acc = [c for c in cells if _accuracy(c) is not None]
    if with_acc:
        metric = _accuracy(with_acc[0])[0]  # type: ignore[index]
        vals = [
            (c.latency_ms.p50, _accuracy(c)[1], c.model_size_mb or 0.0)  # type: ignore[union-attr,index]
            for c in with_acc
        ]
        front = pareto_front(vals, (False, True, False))
        pts = [
            Point(
                lat,
                acc,
                marks=marks_of(c),
                label=series_name(c, with_host),
                size=size,
                front=on,
            )
            for (lat, acc, size), c, on in zip(vals, with_acc, front, strict=True)
        ]
        return Figure(
            "tradeoff",
            "scatter",
            f"{model}: accuracy, latency and size (bubble area: MB); Pareto front outlined",
            "median latency, ms (smallest batch)",
            metric,
            [Series("cells", pts)],
        )
    sized = [c for c in cells if c.model_size_mb]
    if len(sized) < 1:
        return None
    vals2 = [(c.latency_ms.p50, float(c.model_size_mb or 0)) for c in sized]  # type: ignore[union-attr]
    front = pareto_front(vals2, (False, False))
    pts = [
        Point(lat, size, marks=marks_of(c), label=series_name(c, with_host), front=on)
        for (lat, size), c, on in zip(vals2, sized, front, strict=True)
    ]
    return Figure(
        "tradeoff",
        "scatter",
        f"{model}: latency against size; Pareto front outlined",
        "median latency, ms (smallest batch)",
        "model size, MB",
        [Series("cells", pts)],
        note="No accuracy figures in these cells: the trade-off is latency against size.",
    )


def host_figures(cells: Sequence[CellResult]) -> list[Figure]:
    """Device against device: throughput of the cells that several hosts or targets measured."""
    hosts = sorted({host_of(c) for c in cells if c.status == "ok"})
    if len(hosts) < 2:
        return []
    figures = []
    by_model: dict[str, list[CellResult]] = defaultdict(list)
    for c in cells:
        if c.status == "ok":
            by_model[c.model].append(c)
    for model in sorted(by_model):
        table: dict[str, dict[str, CellResult]] = defaultdict(dict)
        for c in by_model[model]:
            table[f"{series_name(c)} b{c.batch_size}"][host_of(c)] = c
        shared = [k for k in sorted(table) if len(table[k]) > 1]
        if not shared:
            continue
        series = []
        for h in hosts:
            pts = [
                Point(k, table[k][h].throughput_ips or 0.0, marks=marks_of(table[k][h]), label=k)
                for k in shared
                if h in table[k]
            ]
            if pts:
                series.append(Series(h, pts))
        figures.append(
            Figure(
                f"hosts-{model}",
                "bars",
                f"{model}: device against device, throughput",
                "",
                "images/s",
                series,
                shared,
            )
        )
    return figures


# --- SVG ----------------------------------------------------------------------------------------
W, H = 640, 330
LEFT, RIGHT, TOP, BOTTOM = 60, 180, 34, 64
LEGEND_CHARS = 28  # longer series names are cut in the legend (the full name is its tooltip)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering lo..hi."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = [start]
    while ticks[-1] < hi - 1e-12 * abs(hi) or len(ticks) < 2:
        ticks.append(round(start + len(ticks) * step, 12))
    return ticks


def _fmt(v: float) -> str:
    """A plain number with three significant digits, never in exponent form (1500, not
    1.5e+03; 0.00014, not 1.4e-04)."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    if abs(v) >= 100:
        return f"{v:.0f}"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    text = f"{v:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


CHAR_W = 5.6  # px per character of a 10 px label, for layout (an estimate: no font metrics)
_SIN20, _COS20 = math.sin(math.radians(20)), math.cos(math.radians(20))


def _slanted_label(cat: str, x: float, y: float) -> str:
    """A category label under a bar, slanted 20 degrees down to the right (into the room the
    legend's margin leaves: slanted to the left, the first bar's label was cut to 14
    characters, `onnxruntime f...`), cut (full name in its tooltip) only where it would leave the
    figure on the right or at the bottom."""
    room = min((W - x - 4) / _COS20, (H - y - 4) / _SIN20)
    fits = max(4, int(room / CHAR_W))
    shown = cat if len(cat) <= fits else cat[: fits - 1] + "\u2026"
    return (
        f'<text x="{x:.1f}" y="{y}" font-size="10" text-anchor="start"'
        f' transform="rotate(20 {x:.1f} {y})"><title>{_e(cat)}</title>{_e(shown)}</text>'
    )


def to_svg(fig: Figure) -> str:
    """The figure as a standalone SVG document (also valid inline in HTML)."""
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="eb-figure" data-figure="{_e(fig.key)}"'
        f' width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{_e(fig.title)}"'
        ' font-family="system-ui, sans-serif" style="max-width:100%;height:auto">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="8" y="20" font-size="13" font-weight="bold">{_e(fig.title)}</text>',
    ]
    pts_all = [p for s in fig.series for p in s.points]
    if fig.kind == "bars":
        if fig.stacked:
            totals: dict[str, float] = defaultdict(float)
            for p in pts_all:
                totals[str(p.x)] += p.y
            ymax = max([*totals.values(), 0.0]) or 1.0
        else:
            ymax = max([p.y for p in pts_all] + [0.0]) or 1.0
        ys = nice_ticks(0.0, ymax)
        y0, y1 = 0.0, ys[-1]
    else:
        lows = [p.low if p.low is not None else p.y for p in pts_all]
        highs = [p.high if p.high is not None else p.y for p in pts_all]
        y0 = 0.0 if fig.kind == "lines" else min(lows)
        if fig.kind == "scatter":
            span = (max(highs) - y0) or abs(y0) or 1.0
            y0 = max(0.0, y0 - 0.1 * span) if y0 >= 0 else y0 - 0.1 * span
        ys = nice_ticks(y0, max(highs) if highs else 1.0)
        y0, y1 = ys[0], ys[-1]

    def sy(v: float) -> float:
        return TOP + ph * (1 - (v - y0) / ((y1 - y0) or 1.0))

    for t in ys:
        out.append(
            f'<line x1="{LEFT}" y1="{sy(t):.1f}" x2="{LEFT + pw}" y2="{sy(t):.1f}" stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{sy(t) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_fmt(t)}</text>"
        )
    out.append(
        f'<line x1="{LEFT}" y1="{TOP + ph}" x2="{LEFT + pw}" y2="{TOP + ph}" stroke="#444"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}" stroke="#444"/>'
        f'<text x="16" y="{TOP + ph / 2}" font-size="11" text-anchor="middle"'
        f' transform="rotate(-90 16 {TOP + ph / 2})">{_e(fig.y_label)}</text>'
        f'<text x="{LEFT + pw / 2}" y="{H - 8}" font-size="11" text-anchor="middle">'
        f"{_e(fig.x_label)}</text>"
    )
    if fig.kind == "bars":
        out += _svg_bars(fig, pw, ph, sy)
    elif fig.kind == "lines":
        out += _svg_lines(fig, pw, sy, ph)
    else:
        out += _svg_scatter(fig, pw, sy, ph)
    if fig.kind != "scatter" and (len(fig.series) > 1 or fig.kind == "lines"):
        for i, s in enumerate(fig.series):
            y = TOP + 8 + i * 16
            out.append(
                f'<rect x="{LEFT + pw + 16}" y="{y - 9}" width="10" height="10"'
                f' fill="{PALETTE[i % len(PALETTE)]}"/>'
                f'<text x="{LEFT + pw + 31}" y="{y}" font-size="10">{_legend(s.name)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def _legend(name: str) -> str:
    if len(name) <= LEGEND_CHARS:
        return _e(name)
    return f"<title>{_e(name)}</title>{_e(name[: LEGEND_CHARS - 1])}…"


def _tooltip(p: Point, unit: str) -> str:
    return f"<title>{_e(p.label)}: {_fmt(p.y)} {_e(unit)}{_e(p.marks)}</title>"


def _svg_bars(fig: Figure, pw: float, ph: float, sy: Any) -> list[str]:
    out = []
    cats = fig.categories or sorted({str(p.x) for s in fig.series for p in s.points})
    gw = pw / max(len(cats), 1)
    if fig.stacked:
        return _svg_stacked(fig, cats, gw, ph, sy)
    ns = max(len(fig.series), 1)
    bw = max(2.0, (gw - 8) / ns)
    for si, s in enumerate(fig.series):
        color = PALETTE[si % len(PALETTE)] if ns > 1 else None
        for p in s.points:
            ci = cats.index(str(p.x))
            x = LEFT + ci * gw + 4 + si * bw
            y = sy(p.y)
            fill = color or PALETTE[ci % len(PALETTE)]
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bw - 1:.1f}"'
                f' height="{TOP + ph - y:.1f}" fill="{fill}">{_tooltip(p, fig.y_label)}</rect>'
            )
            label = _fmt(p.y) + p.marks
            out.append(
                f'<text x="{x + bw / 2:.1f}" y="{y - 3:.1f}" font-size="9"'
                f' text-anchor="middle">{_e(label)}</text>'
            )
    for ci, cat in enumerate(cats):
        out.append(_slanted_label(cat, LEFT + ci * gw + gw / 2, TOP + ph + 14))
    return out


def _svg_stacked(fig: Figure, cats: list[str], gw: float, ph: float, sy: Any) -> list[str]:
    """One bar per category, each series a segment stacked on the ones before it."""
    out = []
    base = dict.fromkeys(cats, 0.0)
    for si, s in enumerate(fig.series):
        for p in s.points:
            ci = cats.index(str(p.x))
            low, high = base[str(p.x)], base[str(p.x)] + p.y
            base[str(p.x)] = high
            if p.y <= 0:
                continue
            out.append(
                f'<rect class="bar" x="{LEFT + ci * gw + 6:.1f}" y="{sy(high):.1f}"'
                f' width="{gw - 12:.1f}" height="{sy(low) - sy(high):.1f}"'
                f' fill="{PALETTE[si % len(PALETTE)]}">{_tooltip(p, fig.y_label)}</rect>'
            )
    for ci, cat in enumerate(cats):
        x = LEFT + ci * gw + gw / 2
        out.append(
            f'<text x="{x:.1f}" y="{sy(base[cat]) - 3:.1f}" font-size="9"'
            f' text-anchor="middle">{_e(_fmt(base[cat]))}</text>'
            + _slanted_label(cat, x, TOP + ph + 14)
        )
    return out


def _x_scale(values: Sequence[float], pw: float, log2: bool) -> Any:
    vals = [math.log2(v) for v in values if v > 0] if log2 else list(values)
    vals = vals or [0.0]
    lo, hi = min(vals), max(vals)
    pad = 0.5 if log2 else 0.08 * ((hi - lo) or abs(hi) or 1.0)
    lo, hi = lo - pad, hi + pad

    def sx(v: float) -> float:
        t = math.log2(v) if log2 else v
        return LEFT + pw * (t - lo) / ((hi - lo) or 1.0)

    return sx, lo, hi


def _svg_lines(fig: Figure, pw: float, sy: Any, ph: float) -> list[str]:
    out = []
    xs = sorted({float(p.x) for s in fig.series for p in s.points})
    sx, _, _ = _x_scale(xs, pw, fig.x_log2)
    for x in xs:
        out.append(
            f'<text x="{sx(x):.1f}" y="{TOP + ph + 16}" font-size="10" text-anchor="middle">'
            f"{_fmt(x)}</text>"
        )
    for si, s in enumerate(fig.series):
        color = PALETTE[si % len(PALETTE)]
        coords = [(sx(float(p.x)), sy(p.y)) for p in s.points]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(
                f'<polyline class="series" points="{path}" fill="none" stroke="{color}"'
                ' stroke-width="2"/>'
            )
        for p, (x, y) in zip(s.points, coords, strict=True):
            if p.low is not None and p.high is not None:
                out.append(
                    f'<line x1="{x:.1f}" y1="{sy(p.low):.1f}" x2="{x:.1f}" y2="{sy(p.high):.1f}"'
                    f' stroke="{color}"/>'
                )
            hollow = "\u2020" in p.marks
            out.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" stroke="{color}"'
                f' stroke-width="1.5" fill="{"white" if hollow else color}">'
                f"{_tooltip(p, fig.y_label)}</circle>"
            )
            if "*" in p.marks:
                out.append(
                    f'<text x="{x + 4:.1f}" y="{y - 4:.1f}" font-size="11" fill="{color}">*</text>'
                )
    return out


def _svg_scatter(fig: Figure, pw: float, sy: Any, ph: float) -> list[str]:
    out = []
    pts = [p for s in fig.series for p in s.points]
    xs = [float(p.x) for p in pts]
    sx, lo, hi = _x_scale([0.0, *xs], pw, False)
    for t in nice_ticks(max(lo, 0.0), hi):
        if lo <= t <= hi:
            out.append(
                f'<text x="{sx(t):.1f}" y="{TOP + ph + 16}" font-size="10" text-anchor="middle">'
                f"{_fmt(t)}</text>"
            )
    sizes = [p.size for p in pts if p.size]
    smax = max(sizes) if sizes else 1.0
    front = sorted((p for p in pts if p.front), key=lambda p: float(p.x))
    if len(front) > 1:
        path = " ".join(f"{sx(float(p.x)):.1f},{sy(p.y):.1f}" for p in front)
        out.append(
            f'<polyline class="pareto" points="{path}" fill="none" stroke="#222"'
            ' stroke-dasharray="5,3"/>'
        )
    names = sorted({p.label for p in pts})
    radius = [4 + 14 * math.sqrt((p.size or 0) / smax) if sizes else 5.0 for p in pts]
    centres = [(sx(float(p.x)), sy(p.y)) for p in pts]
    # What a label must not cover: every marker and the Pareto line (labels drawn over markers
    # hid under the next ones, and the line ran through them)
    placed: list[tuple[float, float, float, float]] = [
        (x - r, y - r, x + r, y + r) for (x, y), r in zip(centres, radius, strict=True)
    ]
    line = [(sx(float(p.x)), sy(p.y)) for p in front]
    labels = []
    for p, (x, y), r in zip(pts, centres, radius, strict=True):
        color = PALETTE[names.index(p.label) % len(PALETTE)]
        stroke = ' stroke="#000" stroke-width="2"' if p.front else ' stroke="#fff"'
        opacity = "0.9" if p.front else "0.45"
        out.append(
            f'<circle class="point{" front" if p.front else ""}" cx="{x:.1f}" cy="{y:.1f}"'
            f' r="{r:.1f}" fill="{color}" fill-opacity="{opacity}"{stroke}>'
            f"<title>{_e(p.label)}: {_fmt(float(p.x))} ms, {_fmt(p.y)} {_e(fig.y_label)}"
            f"{_e(p.marks)}</title></circle>"
        )
    for p, (x, y), r in zip(pts, centres, radius, strict=True):
        if p.front:
            labels.append(_place_label(p.label + p.marks, x, y, r, pw, ph, placed, line))
    out += labels  # over every marker
    for i, name in enumerate(names):
        y = TOP + 8 + i * 16
        out.append(
            f'<circle cx="{LEFT + pw + 21}" cy="{y - 4}" r="5"'
            f' fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{LEFT + pw + 31}" y="{y}" font-size="10">{_legend(name)}</text>'
        )
    return out


def _place_label(
    text: str,
    x: float,
    y: float,
    r: float,
    pw: float,
    ph: float,
    placed: list[tuple[float, float, float, float]],
    line: Sequence[tuple[float, float]] = (),
) -> str:
    """A point's name beside it where it overlaps no box placed before (markers, labels) and
    does not cross `line` (right, left, above, below, then further down); `placed` collects
    the boxes taken."""
    w, h = CHAR_W * len(text), 11.0
    spots = [(x + r + 3, y + 4, "start"), (x - r - 3, y + 4, "end"), (x, y - r - 4, "middle"),
             (x, y + r + 12, "middle")]  # fmt: skip
    spots += [(x + r + 3, y + 4 + k * h, "start") for k in range(1, 8)]
    for tx, ty, anchor in spots:
        left = {"start": tx, "end": tx - w, "middle": tx - w / 2}[anchor]
        box = (left, ty - h + 2, left + w, ty + 2)
        inside = box[0] >= LEFT and box[2] <= LEFT + pw and box[1] >= TOP
        clear = all(
            box[2] < b[0] or b[2] < box[0] or box[3] < b[1] or b[3] < box[1] for b in placed
        ) and not _crosses(line, box)
        if inside and clear and box[3] <= TOP + ph + 2:
            placed.append(box)
            return (
                f'<text class="point-label" x="{tx:.1f}" y="{ty:.1f}" font-size="10"'
                f' text-anchor="{anchor}">{_e(text)}</text>'
            )
    return ""  # no room: the name stays in the point's tooltip and the legend


def _crosses(line: Sequence[tuple[float, float]], box: tuple[float, float, float, float]) -> bool:
    """Whether a polyline passes through a box (each segment sampled every 2 px)."""
    for (x0, y0), (x1, y1) in zip(line, line[1:], strict=False):
        steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / 2))
        for i in range(steps + 1):
            x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
            if box[0] <= x <= box[2] and box[1] <= y <= box[3]:
                return True
    return False


# --- files for papers -------------------------------------------------------------------------
def have_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def save_png(fig: Figure, path: Path, dpi: int = 150) -> None:
    """Draws the figure with matplotlib (Agg) into a PNG file."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    f, ax = plt.subplots(figsize=(9, 3.6))
    try:
        _draw_matplotlib(ax, fig)
        ax.set_title(fig.title, fontsize=10, loc="left")
        ax.set_xlabel(fig.x_label)
        ax.set_ylabel(fig.y_label)
        ax.grid(axis="y", color="#eee")
        ax.set_axisbelow(True)
        f.tight_layout()
        f.savefig(path, dpi=dpi)
    finally:
        plt.close(f)


def _draw_matplotlib(ax: Any, fig: Figure) -> None:
    if fig.kind == "lines":
        for si, s in enumerate(fig.series):
            color = PALETTE[si % len(PALETTE)]
            xs = [float(p.x) for p in s.points]
            ys = [p.y for p in s.points]
            yerr = None
            if all(p.low is not None and p.high is not None for p in s.points):
                yerr = [
                    [p.y - (p.low or p.y) for p in s.points],
                    [(p.high or p.y) - p.y for p in s.points],
                ]
            ax.errorbar(xs, ys, yerr=yerr, color=color, marker="o", label=s.name, capsize=2)
            for p in s.points:
                if p.marks:
                    ax.annotate(p.marks, (float(p.x), p.y), fontsize=8, color=color)
        if fig.x_log2:
            ax.set_xscale("log", base=2)
            xs_all = sorted({float(p.x) for s in fig.series for p in s.points})
            ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    elif fig.kind == "bars" and fig.stacked:
        cats = fig.categories or sorted({str(p.x) for s in fig.series for p in s.points})
        bottom = [0.0] * len(cats)
        for si, s in enumerate(fig.series):
            heights = [0.0] * len(cats)
            for p in s.points:
                heights[cats.index(str(p.x))] = p.y
            ax.bar(
                range(len(cats)),
                heights,
                bottom=bottom,
                color=PALETTE[si % len(PALETTE)],
                label=s.name,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_xticks(range(len(cats)), cats, rotation=20, ha="right", fontsize=8)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    elif fig.kind == "bars":
        cats = fig.categories or sorted({str(p.x) for s in fig.series for p in s.points})
        n = max(len(fig.series), 1)
        width = 0.8 / n
        for si, s in enumerate(fig.series):
            xs = [cats.index(str(p.x)) + (si - (n - 1) / 2) * width for p in s.points]
            colors = (
                [PALETTE[si % len(PALETTE)]] * len(xs)
                if n > 1
                else [PALETTE[cats.index(str(p.x)) % len(PALETTE)] for p in s.points]
            )
            bars = ax.bar(xs, [p.y for p in s.points], width=width, color=colors, label=s.name)
            ax.bar_label(bars, labels=[f"{p.y:.3g}{p.marks}" for p in s.points], fontsize=7)
        ax.set_xticks(range(len(cats)), cats, rotation=20, ha="right", fontsize=8)
        if n > 1:
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:
        pts = [p for s in fig.series for p in s.points]
        names = sorted({p.label for p in pts})
        sizes = [p.size for p in pts if p.size]
        smax = max(sizes) if sizes else 1.0
        for p in pts:
            area = (20 + 400 * (p.size or 0) / smax) if sizes else 40
            ax.scatter(
                float(p.x),
                p.y,
                s=area,
                color=PALETTE[names.index(p.label) % len(PALETTE)],
                alpha=0.9 if p.front else 0.4,
                edgecolors="black" if p.front else "white",
                linewidths=1.5 if p.front else 0.5,
            )
            if p.front:
                ax.annotate(
                    p.label + p.marks,
                    (float(p.x), p.y),
                    fontsize=7,
                    xytext=(6, 3),
                    textcoords="offset points",
                )
        front = sorted((p for p in pts if p.front), key=lambda p: float(p.x))
        if len(front) > 1:
            ax.plot([float(p.x) for p in front], [p.y for p in front], "k--", lw=1,
                    label="Pareto front")  # fmt: skip
        for i, name in enumerate(names):  # the PNGs had no legend: which colour is which cell
            ax.scatter([], [], s=40, color=PALETTE[i % len(PALETTE)], label=name[:LEGEND_CHARS])
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.set_xlim(left=0)


def write_figure_files(
    figures: Sequence[tuple[str, Figure]], folder: Path
) -> list[tuple[str, Path]]:
    """Writes each (prefix, figure) as PREFIX-KEY.svg, and .png when matplotlib is installed;
    returns (prefix, file) for each file written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, Path]] = []
    png = have_matplotlib()
    for prefix, fig in figures:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{prefix}-{fig.key}" if prefix else fig.key)
        svg_path = folder / f"{stem}.svg"
        svg_path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + to_svg(fig))
        written.append((prefix, svg_path))
        if png:
            save_png(fig, folder / f"{stem}.png")
            written.append((prefix, folder / f"{stem}.png"))
    return written


def all_figures(cells: Sequence[CellResult]) -> list[tuple[str, Figure]]:
    """Every figure of a report, each with the model it belongs to ('' for cross-model ones)."""
    by_model: dict[str, list[CellResult]] = defaultdict(list)
    for c in cells:
        by_model[c.model].append(c)
    out = [(m, f) for m in sorted(by_model) for f in model_figures(m, by_model[m])]
    out += [("", f) for f in host_figures(cells)]
    return out
