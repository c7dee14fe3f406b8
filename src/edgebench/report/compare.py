"""Two runs side by side, cell by cell, with the significance of each difference.

Cells match on model, weights, compiler, precision, batch size, threads (and LoadGen scenario).
A difference is significant when a two-sided Mann-Whitney U test on the two cells' raw latency
samples gives p < alpha (0.05); where a cell has too few stored samples, when the two medians'
95% confidence intervals do not overlap. A regression fails a `--fail-on METRIC:PCT%` gate when
it is worse than PCT percent AND significant, so a CI job does not fail on noise. Latency
metrics (p50, p90, p99, mean) are worse when higher; throughput when lower. A cell that was ok
in the first run and failed in the second fails any gate.

A significant change is not a regression when the host was not the same host: when either
side was measured under noise (other processes above 10% of the CPU, or its window drifting
over 10%), or when the cells' host-speed references (harness/noise.py: the same work timed
around each cell) say the host's speed changed and the change, with B's figure scaled by that
change, no longer breaks the rule. Such a pair is `inconclusive` with its reason, never a
verdict the data cannot carry; `--strict` judges the raw figures.

With `--side-by-side` the two cells' artifacts are timed again, now, alternately in one worker
(paired.py, harness/side_by_side.py), and that paired ratio judges the pair instead: a drift
of the host between the two runs cancels in it. The rule's threshold is the effect asked about;
an interval wider than that is `inconclusive`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgebench.errors import UsageError
from edgebench.paired import PairedRatio
from edgebench.results import CellResult, distinct_models

METRICS = ("p50", "p90", "p99", "mean", "throughput")
MIN_SAMPLES = 5  # fewer raw samples than this on either side: judge by the CIs instead


@dataclass(frozen=True)
class FailRule:
    metric: str
    pct: float

    def __str__(self) -> str:
        return f"{self.metric}:{self.pct:g}%"


def parse_fail_on(text: str) -> FailRule:
    """`p50:5%` (or `p50:5`) -> FailRule('p50', 5.0)."""
    m = re.fullmatch(r"\s*([a-z0-9_]+)\s*:\s*([0-9]*\.?[0-9]+)\s*%?\s*", text)
    if not m:
        raise UsageError(f"--fail-on takes METRIC:PERCENT, e.g. p50:5%, not '{text}'")
    metric, pct = m.group(1), float(m.group(2))
    if metric not in METRICS:
        raise UsageError(f"--fail-on: unknown metric '{metric}'; valid: {', '.join(METRICS)}")
    return FailRule(metric, pct)


def value_of(cell: CellResult, metric: str) -> float | None:
    if metric == "throughput":
        return cell.throughput_ips
    lat = cell.latency_ms
    return getattr(lat, metric) if lat is not None else None


def higher_is_worse(metric: str) -> bool:
    return metric != "throughput"


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected,
    continuity-corrected). Good for the tens to thousands of samples a cell stores."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney needs samples on both sides")
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2.0 + 1.0  # average rank of a run of ties
        for k in range(i, j + 1):
            ranks[k] = rank
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r1 = sum(r for r, (_, side) in zip(ranks, pooled, strict=True) if side == 0)
    u1 = r1 - n1 * (n1 + 1) / 2.0
    mu = n1 * n2 / 2.0
    n = n1 + n2
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        return 1.0
    z = (abs(u1 - mu) - 0.5) / math.sqrt(var)
    return max(0.0, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0))))


@dataclass
class Delta:
    metric: str
    a: float | None
    b: float | None

    @property
    def pct(self) -> float | None:
        if self.a is None or self.b is None or self.a == 0:
            return None
        return (self.b - self.a) / abs(self.a) * 100.0

    @property
    def worse_pct(self) -> float | None:
        """How much worse B is than A, in percent (negative: better)."""
        pct = self.pct
        if pct is None:
            return None
        return pct if higher_is_worse(self.metric) else -pct


@dataclass
class Pair:
    key: tuple[Any, ...]
    a: CellResult
    b: CellResult
    deltas: dict[str, Delta] = field(default_factory=dict)
    p_value: float | None = None
    ci_overlap: bool | None = None
    significant: bool = False
    regressions: list[str] = field(default_factory=list)  # the rules it breaks
    # Rules it would break but a side was measured under noise, or the host's speed changed
    # by as much: not a verdict, unless strict; `why_inconclusive` says which.
    inconclusive: list[str] = field(default_factory=list)
    why_inconclusive: str = ""
    # B's time over A's, the two artifacts timed side by side (compare --side-by-side), or
    # why they could not be
    side_by_side: PairedRatio | None = None
    side_by_side_note: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. latency and throughput disagree

    @property
    def noisy(self) -> bool:
        return self.a.noisy or self.b.noisy or self.a.drifted or self.b.drifted

    @property
    def host_change_pct(self) -> float | None:
        """How much longer the host-speed reference took around B's cell than around A's, in
        percent (+20: the host was 20% slower for B); None where a side lacks it."""
        ra, rb = self.a.host_reference_ms, self.b.host_reference_ms
        if not ra or not rb:
            return None
        return (rb / ra - 1.0) * 100.0

    def host_adjusted_worse_pct(self, metric: str) -> float | None:
        """`metric`'s change with B's figure scaled to A's host speed (a time divided by the
        host's slow-down, a throughput multiplied by it)."""
        change, d = self.host_change_pct, self.deltas.get(metric)
        if change is None or d is None or d.a is None or d.b is None or d.a == 0:
            return None
        factor = 1.0 + change / 100.0
        b = d.b / factor if higher_is_worse(metric) else d.b * factor
        adjusted = Delta(metric, d.a, b).pct
        if adjusted is None:
            return None
        return adjusted if higher_is_worse(metric) else -adjusted

    @property
    def noise(self) -> str:
        """Each side's foreign CPU share while timed, as `A 32% / B 2%`."""

        def pct(cell: CellResult) -> str:
            return "-" if cell.noise_cpu_pct is None else f"{cell.noise_cpu_pct:.0f}%"

        return f"A {pct(self.a)} / B {pct(self.b)}"

    @property
    def label(self) -> str:
        c = self.a
        return f"{c.model} {c.weights} {c.compiler} {c.precision} b{c.batch_size} t{c.threads}"


@dataclass
class Comparison:
    pairs: list[Pair]
    only_a: list[CellResult]
    only_b: list[CellResult]
    newly_failed: list[Pair]
    rules: list[FailRule]

    @property
    def failed(self) -> bool:
        """Whether the gate fails: a significant regression past a rule, or a newly failed cell
        (only when rules were given)."""
        if not self.rules:
            return False
        return bool(self.newly_failed) or any(p.regressions for p in self.pairs)


def _key(cell: CellResult) -> tuple[Any, ...]:
    return (*cell.key(), (cell.loadgen or {}).get("scenario"))


# Times two ok cells' artifacts side by side: B's time over A's for the effect asked about,
# or the reason they cannot be timed so
SideBySide = Callable[[CellResult, CellResult, float], "PairedRatio | str"]


def compare_cells(
    cells_a: Sequence[CellResult],
    cells_b: Sequence[CellResult],
    rules: Sequence[FailRule] = (),
    alpha: float = 0.05,
    strict: bool = False,
    side_by_side: SideBySide | None = None,
) -> Comparison:
    """Matches the two runs' cells and judges each difference (the last row of a cell wins).

    A cell measured above the noise threshold on either side cannot fail the gate: what it
    would break is `inconclusive` instead, unless `strict`. Model files are matched by their
    content: two files of one name are two models, never compared."""
    labelled = distinct_models([*cells_a, *cells_b])
    a = {_key(c): c for c in labelled[: len(cells_a)]}
    b = {_key(c): c for c in labelled[len(cells_a) :]}
    metrics = list(dict.fromkeys([*(r.metric for r in rules), "p50", "throughput"]))
    pairs, newly_failed = [], []
    for key, ca in a.items():
        cb = b.get(key)
        if cb is None:
            continue
        pair = Pair(key, ca, cb)
        if ca.status == "ok" and cb.status != "ok":
            newly_failed.append(pair)
            continue
        if ca.status != "ok" or cb.status != "ok":
            continue
        pair.deltas = {m: Delta(m, value_of(ca, m), value_of(cb, m)) for m in metrics}
        la, lb = ca.latency_ms, cb.latency_ms
        if la is not None and lb is not None:
            pair.ci_overlap = not (la.ci95_high < lb.ci95_low or lb.ci95_high < la.ci95_low)
        sa, sb = ca.latency_samples_ms, cb.latency_samples_ms
        if len(sa) >= MIN_SAMPLES and len(sb) >= MIN_SAMPLES:
            pair.p_value = mann_whitney(sa, sb)
            pair.significant = pair.p_value < alpha
        elif pair.ci_overlap is not None:
            pair.significant = not pair.ci_overlap
        if side_by_side is not None:
            effect = min((r.pct for r in rules), default=2.0) / 100.0
            timed = side_by_side(ca, cb, effect)
            if isinstance(timed, PairedRatio):
                pair.side_by_side = timed
                _judge_side_by_side(pair, rules)
                pair.notes = _disagreement(pair)
                pairs.append(pair)
                continue
            pair.side_by_side_note = timed
        for rule in rules:
            worse = pair.deltas[rule.metric].worse_pct
            if worse is not None and worse > rule.pct and pair.significant:
                broken = f"{rule.metric} {worse:+.1f}% > {rule.pct:g}%"
                why = "" if strict else _why_not_a_verdict(pair, rule)
                if why:
                    pair.inconclusive.append(broken)
                    pair.why_inconclusive = pair.why_inconclusive or why
                else:
                    pair.regressions.append(broken)
        pair.notes = _disagreement(pair)
        pairs.append(pair)
    only_a = [c for k, c in a.items() if k not in b]
    only_b = [c for k, c in b.items() if k not in a]
    return Comparison(pairs, only_a, only_b, newly_failed, list(rules))


def _judge_side_by_side(pair: Pair, rules: Sequence[FailRule]) -> None:
    """The rules judged on the side-by-side ratio (B's time over A's: higher is worse for a
    time, and for throughput, its inverse)."""
    timed = pair.side_by_side
    assert timed is not None
    pair.significant = timed.verdict in ("faster", "slower")
    worse = (timed.ratio - 1.0) * 100.0
    for rule in rules:
        broken = f"{rule.metric} {worse:+.1f}% > {rule.pct:g}% side by side"
        if timed.verdict == "inconclusive" and (timed.high - 1.0) * 100.0 > rule.pct:
            pair.inconclusive.append(broken)
            pair.why_inconclusive = "side by side, the interval is wider than the threshold"
        elif timed.verdict == "slower" and worse > rule.pct:
            pair.regressions.append(broken)


# A host-speed reference that moved less than this between the two cells: the same host
HOST_SPEED_PCT = 5.0


def _why_not_a_verdict(pair: Pair, rule: FailRule) -> str:
    """Why a change past `rule` cannot be called a regression ('' when it can): noise on
    either side, or a host whose speed changed by as much as the change."""
    if pair.noisy:
        return "noisy"
    change = pair.host_change_pct
    if change is None or abs(change) < HOST_SPEED_PCT:
        return ""
    adjusted = pair.host_adjusted_worse_pct(rule.metric)
    if adjusted is not None and adjusted > rule.pct:
        return ""  # worse even on A's host speed
    return f"host speed changed by {change:+.0f}%"


def _disagreement(pair: Pair) -> list[str]:
    """A note when latency and throughput move in opposite directions, and why that can be."""
    p50, ips = pair.deltas.get("p50"), pair.deltas.get("throughput")
    if p50 is None or ips is None or p50.worse_pct is None or ips.worse_pct is None:
        return []
    if (
        abs(p50.worse_pct) < 1
        or abs(ips.worse_pct) < 1
        or (p50.worse_pct > 0) == (ips.worse_pct > 0)
    ):
        return []
    hint = str(pair.b.options.get("ov_hint", pair.a.options.get("ov_hint", ""))).upper()
    why = (
        "under OpenVINO's THROUGHPUT hint several requests overlap: each takes longer, more "
        "finish per second; judge this cell by throughput"
        if hint == "THROUGHPUT"
        else "the batch or the requests in flight changed how latency and throughput relate"
    )
    return [f"p50 {p50.pct:+.1f}% but throughput {ips.pct:+.1f}%: {why}"]


def verdict(pair: Pair, metric: str = "p50") -> str:
    if pair.regressions:
        return "REGRESSION"
    if pair.inconclusive:
        return f"inconclusive: {pair.why_inconclusive or 'noisy'}"
    if pair.side_by_side is not None:
        timed = pair.side_by_side
        return f"side by side {timed.ratio:.3f}: {timed.verdict}"
    worse = pair.deltas[metric].worse_pct if metric in pair.deltas else None
    if worse is None:
        return "-"
    if not pair.significant:
        return "no significant change"
    return "slower" if worse > 0 else "faster"


def to_records(comparison: Comparison) -> list[dict[str, Any]]:
    """The comparison as JSON-ready records."""
    out = []
    for p in comparison.pairs:
        out.append(
            {
                "model": p.a.model,
                "weights": p.a.weights,
                "compiler": p.a.compiler,
                "precision": p.a.precision,
                "batch_size": p.a.batch_size,
                "threads": p.a.threads,
                "metrics": {m: {"a": d.a, "b": d.b, "pct": d.pct} for m, d in p.deltas.items()},
                "p_value": p.p_value,
                "ci_overlap": p.ci_overlap,
                "significant": p.significant,
                "regressions": p.regressions,
                "inconclusive": p.inconclusive,
                "why_inconclusive": p.why_inconclusive or None,
                "noise_cpu_pct": {"a": p.a.noise_cpu_pct, "b": p.b.noise_cpu_pct},
                "host_reference_ms": {"a": p.a.host_reference_ms, "b": p.b.host_reference_ms},
                "host_change_pct": p.host_change_pct,
                "side_by_side": p.side_by_side.to_dict() if p.side_by_side else None,
                "side_by_side_note": p.side_by_side_note or None,
                "model_size_mb": {"a": p.a.model_size_mb, "b": p.b.model_size_mb},
                "model_size_gzip_mb": {"a": p.a.model_size_gzip_mb, "b": p.b.model_size_gzip_mb},
                "notes": p.notes,
            }
        )
    for p in comparison.newly_failed:
        out.append(
            {
                "model": p.a.model,
                "compiler": p.a.compiler,
                "precision": p.a.precision,
                "batch_size": p.a.batch_size,
                "newly_failed": p.b.error,
            }
        )
    return out


def comparison_table(comparison: Comparison, run_a: str, run_b: str) -> Any:
    """The comparison as a rich Table: per cell each metric's A, B and change, the test's
    p-value, whether the CIs overlap, and the verdict."""
    from rich.table import Table

    metrics = list(comparison.pairs[0].deltas) if comparison.pairs else ["p50"]
    t = Table(title=f"{run_a} -> {run_b}")
    for col in ("model", "compiler", "precision", "batch"):
        t.add_column(col)
    for m in metrics:
        unit = "img/s" if m == "throughput" else "ms"
        t.add_column(f"{m} {unit} A", justify="right")
        t.add_column("B", justify="right")
        t.add_column("\u0394", justify="right")
    for col in ("p (MW)", "CIs", "noise", "verdict"):
        t.add_column(col, justify="right" if col == "p (MW)" else "left", no_wrap=True)
    for p in comparison.pairs:
        row = [p.a.model, p.a.compiler, p.a.precision, str(p.a.batch_size)]
        for m in metrics:
            d = p.deltas[m]
            row += [
                f"{d.a:.4g}" if d.a is not None else "-",
                f"{d.b:.4g}" if d.b is not None else "-",
                f"{d.pct:+.1f}%" if d.pct is not None else "-",
            ]
        cis = {True: "overlap", False: "apart", None: "-"}[p.ci_overlap]
        v = verdict(p)
        style = "red" if p.regressions else ("green" if v == "faster" else None)
        style = "yellow" if p.inconclusive else style
        row += [f"{p.p_value:.2g}" if p.p_value is not None else "-", cis, p.noise, v]
        t.add_row(*row, style=style)
    for p in comparison.newly_failed:
        cells = [p.a.model, p.a.compiler, p.a.precision, str(p.a.batch_size)]
        t.add_row(*cells, *["-"] * (3 * len(metrics)), "-", "-", "-", "NOW FAILED", style="red")
    return t


def _size_change(pair: Pair) -> str | None:
    """The artifact's size on disk and after gzip -9, where either changed by 1% or more."""
    parts = []
    for what, a, b in (
        ("on disk", pair.a.model_size_mb, pair.b.model_size_mb),
        ("gzip -9", pair.a.model_size_gzip_mb, pair.b.model_size_gzip_mb),
    ):
        if a and b and abs(b - a) / a >= 0.01:
            parts.append(f"{what} {a:.3g} -> {b:.3g} MB ({100 * (b - a) / a:+.0f}%)")
    return "size " + ", ".join(parts) if parts else None


def other_content(comparison: Comparison, run_a: str, run_b: str) -> list[str]:
    """A line for each model file whose name both runs have but whose content differs."""
    files_a = {c.model.partition("@")[0] for c in comparison.only_a if c.model_digest}
    files_b = {c.model.partition("@")[0] for c in comparison.only_b if c.model_digest}
    return [
        f"model file {name} has other content in {run_b} than in {run_a}: two models, not compared"
        for name in sorted(files_a & files_b)
    ]


def gate_lines(
    comparison: Comparison, rules: Sequence[FailRule], run_a: str, run_b: str
) -> list[str]:
    """What the gate found, a line each: regressions, newly failed cells, unmatched cells,
    and the verdict when it fails."""
    lines = []
    for p in comparison.pairs:
        how = f"p={p.p_value:.2g}" if p.p_value is not None else "95% CIs apart"
        for r in p.regressions:
            lines.append(f"regression: {p.label}: {r} ({how}; noise {p.noise})")
        for r in p.inconclusive:
            if p.why_inconclusive.startswith("host speed"):
                lines.append(
                    f"inconclusive: {p.why_inconclusive}: {p.label}: {r} ({how}), but the "
                    f"same reference work took {p.host_change_pct:+.0f}% as long around B's "
                    "cell: measure both again side by side, or --strict"
                )
                continue
            lines.append(
                f"inconclusive: noisy: {p.label}: {r} ({how}), but other processes took "
                f"{p.noise} of the CPU while timed, or the window drifted; measure again "
                "quietly, or --strict"
            )
        if p.side_by_side is not None:
            t = p.side_by_side
            lines.append(
                f"side by side: {p.label}: B/A {t.ratio:.3f} (95% {t.low:.3f}-{t.high:.3f}, "
                f"{t.pairs} paired ratios): {t.verdict}"
            )
        elif p.side_by_side_note:
            lines.append(f"side by side: {p.label}: not timed: {p.side_by_side_note}")
        for note in p.notes:
            lines.append(f"note: {p.label}: {note}")
        size = _size_change(p)
        if size:
            lines.append(f"note: {p.label}: {size}")
    for p in comparison.newly_failed:
        lines.append(f"regression: {p.label}: ok in {run_a}, failed in {run_b}: {p.b.error or ''}")
    if comparison.only_a or comparison.only_b:
        n_a, n_b = len(comparison.only_a), len(comparison.only_b)
        lines.append(f"{n_a} cells only in {run_a}, {n_b} only in {run_b}")
        lines += [f"note: {note}" for note in other_content(comparison, run_a, run_b)]
    if comparison.failed:
        lines.append(f"failed: significant regressions past {', '.join(str(r) for r in rules)}")
    return lines
