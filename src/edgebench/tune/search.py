"""The search of `edgebench tune`, on plain records: what to measure next, and what won.

The space is every compiler x its precisions x its declared options x threads (x batch sizes
for throughput and energy). Searching it whole costs too much, so the search is successive
halving in three rounds, each candidate one measured cell:

1. precisions: each compiler at each precision, at its default options and the most threads,
   with a short stop rule (`SCREEN`);
2. knobs: for the leading third of those that keep the accuracy budget, each knob changed
   alone (each other thread count, batch size and option value), then, where two or more
   knobs helped, all of them together; still short;
3. full: the best within the budget again under the full stop rule; the winner is confirmed
   against the runner-up with a Mann-Whitney test on their raw samples.

Changing one knob at a time from the defaults is what lets the result say what each knob
contributed. The budget is wall time: the early rounds stop at a share of it, so the last
round always has time left; a budget too small for one candidate is an error that says how
long one took.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgebench.errors import EdgebenchError, UsageError
from edgebench.paired import PairedRatio
from edgebench.results import CellResult
from edgebench.settings import StopRuleSettings

OBJECTIVES = ("latency", "throughput", "energy", "size")
SCREEN = StopRuleSettings(warmup_runs=2, min_runs=10, min_duration_s=0.3)
LEAD = 1 / 3  # the share of each round that goes on to the next
MAX_FINALISTS = 4
# Of the budget, at most, before the next round: every compiler at each of its precisions
# comes first (a knob is worth trying only on a candidate that was), then the knobs
SHARES = {"precisions": 1.0, "knobs": 0.8}
# No candidate is measured in less: a worker's start, the model's load and the screening
# window (`SCREEN`) take seconds even with every conversion cached.
MIN_BUDGET_S = 10.0


class BudgetTooSmall(UsageError):
    """The budget does not cover one candidate."""


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: compiler, precision, threads, batch size, and the options
    changed from the compiler's defaults (sorted by name)."""

    compiler: str
    precision: str
    threads: int
    batch: int = 1
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.compiler} {self.precision} t{self.threads} b{self.batch}" + (
            f" {self.knob()}" if self.options else ""
        )

    def knob(self) -> str:
        """What this candidate changes from its compiler's defaults."""
        return " ".join(f"{k}={v}" for k, v in self.options) or "defaults"

    def with_changes(self, **changes: Any) -> Candidate:
        """This candidate with other threads, batch or options (merged over its own)."""
        options = dict(self.options) | changes.pop("options", {})
        return Candidate(
            self.compiler,
            self.precision,
            changes.get("threads", self.threads),
            changes.get("batch", self.batch),
            tuple(sorted(options.items())),
        )


@dataclass
class Trial:
    """A candidate's measurement in one round; `reused` names the run it was taken from."""

    candidate: Candidate
    cell: CellResult
    round: str
    reused: str | None = None


def agreement(cell: CellResult) -> float:
    """How close the cell's outputs are to the FP32 reference's, 1.0 being the same: 1 minus
    the top-1 accuracy drop where the data has labels, else top-1 (or detection) agreement,
    else 1 minus the noise's amplitude relative to the signal's. 0 when the outputs could not
    be compared (a broken artifact must not win)."""
    fid = cell.fidelity or {}
    if isinstance(fid.get("top1_drop"), (int, float)):
        return 1.0 - max(0.0, float(fid["top1_drop"]))
    for key in ("top1_agreement", "detection_agreement"):
        if isinstance(fid.get(key), (int, float)):
            return float(fid[key])
    snr = fid.get("snr_db")
    if isinstance(snr, (int, float)):
        return 1.0 - 10 ** (-snr / 20)
    return 1.0 if cell.status == "ok" and not fid else 0.0


def objective_value(cell: CellResult, objective: str) -> float | None:
    """The figure to minimize (throughput negated); None when the cell has none."""
    if cell.status != "ok" or cell.latency_ms is None:
        return None
    value = {
        "latency": cell.latency_ms.p50,
        "throughput": -cell.throughput_ips if cell.throughput_ips else None,
        "energy": cell.energy_j_per_inf,
        "size": cell.model_size_mb,
    }[objective]
    return None if value is None else float(value)


def shown_value(cell: CellResult, objective: str) -> str:
    value = objective_value(cell, objective)
    if value is None:
        return "-"
    unit = {"latency": "ms p50", "throughput": "img/s", "energy": "J/img", "size": "MB"}
    return f"{abs(value):.4g} {unit[objective]}"


@dataclass
class TuneResult:
    objective: str
    max_drop: float
    budget_s: float
    trials: list[Trial] = field(default_factory=list)
    best: Trial | None = None
    runner_up: Trial | None = None
    confirmation: str = ""
    # The winner against the runner-up timed side by side (paired.PairedRatio.to_dict, the
    # runner-up's time over the winner's), where the confirmation could measure them so
    paired: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    spent_s: float = 0.0
    # (faster, slower) where the side-by-side timing overturned the separate cells' order:
    # the slower one's lower p50 was the host's drift, so it does not push the faster one off
    # the Pareto front
    overturned: tuple[Candidate, Candidate] | None = None

    def keeps_accuracy(self, cell: CellResult) -> bool:
        return cell.status == "ok" and agreement(cell) >= 1.0 - self.max_drop - 1e-9

    def ranked(self, trials: Iterable[Trial]) -> list[Trial]:
        """Trials within the accuracy budget that have the objective's figure, best first."""
        good = [
            t
            for t in trials
            if self.keeps_accuracy(t.cell) and objective_value(t.cell, self.objective) is not None
        ]
        return sorted(good, key=lambda t: objective_value(t.cell, self.objective) or 0.0)

    def final(self) -> list[Trial]:
        """Each candidate's last measurement (its full one where it had one)."""
        last: dict[Candidate, Trial] = {}
        for t in self.trials:
            last[t.candidate] = t
        return list(last.values())

    def pareto(self) -> list[Trial]:
        """The latency, size and accuracy trade-off: the candidates that no other one beats
        on all three, fastest first."""
        ok = [t for t in self.final() if t.cell.status == "ok" and t.cell.latency_ms]
        points = {id(t): _point(t) for t in ok}
        front = [
            t
            for t in ok
            if not any(
                _dominates(points[id(o)], points[id(t)])
                for o in ok
                if o is not t and (t.candidate, o.candidate) != self.overturned
            )
        ]
        return sorted(front, key=lambda t: points[id(t)])

    def contributions(self) -> list[str]:
        """What each knob did, against the defaults of the winner's compiler and precision,
        and what the other precisions of that compiler would have given."""
        if self.best is None:
            return []
        win = self.best.candidate
        final = {t.candidate: t for t in self.final()}
        base = final.get(Candidate(win.compiler, win.precision, _most_threads(final), 1))
        if base is None or objective_value(base.cell, self.objective) is None:
            return []
        ref = objective_value(base.cell, self.objective)
        assert ref is not None
        lines = []
        for cand, t in final.items():
            if (cand.compiler, cand.precision) != (win.compiler, win.precision) or t is base:
                continue
            changed = _changes(base.candidate, cand)
            value = objective_value(t.cell, self.objective)
            if value is None:
                lines.append(f"{changed}: {t.cell.status} ({t.cell.error or 'no figure'})")
            else:
                lines.append(f"{changed}: {self.objective} {_percent(value, ref)}")
        for cand, t in final.items():
            same = Candidate(cand.compiler, cand.precision, base.candidate.threads, 1)
            if cand.compiler == win.compiler and cand.precision != win.precision and cand == same:
                value = objective_value(t.cell, self.objective)
                shown = _percent(value, ref) if value is not None else t.cell.status
                lines.append(
                    f"{cand.precision} instead of {win.precision} (defaults): {self.objective} "
                    f"{shown}, agreement {agreement(t.cell):.3f}"
                )
        return lines


def _most_threads(final: dict[Candidate, Trial]) -> int:
    return max((c.threads for c in final), default=1)


def _changes(base: Candidate, cand: Candidate) -> str:
    parts = []
    if cand.threads != base.threads:
        parts.append(f"threads={cand.threads}")
    if cand.batch != base.batch:
        parts.append(f"batch={cand.batch}")
    parts += [f"{k}={v}" for k, v in cand.options]
    return " ".join(parts) or "defaults"


def _percent(value: float, ref: float) -> str:
    if ref == 0:
        return f"{value:.4g}"
    change = 100 * (abs(value) - abs(ref)) / abs(ref)
    return f"{change:+.1f}% against the defaults"


def _point(t: Trial) -> tuple[float, float, float]:
    c = t.cell
    assert c.latency_ms is not None
    return (c.latency_ms.p50, c.model_size_mb or 0.0, -agreement(c))


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and tuple(a) != tuple(b)


@dataclass(frozen=True)
class Space:
    """The search space: the first round's candidates, and each one's knob changes."""

    starts: list[Candidate]
    variants: Callable[[Candidate], list[Candidate]]


def build_space(
    compilers: Sequence[Any],
    precisions_of: Callable[[Any], list[str]],
    threads: Sequence[int],
    batches: Sequence[int],
    fixed: Iterable[str] = (),
) -> Space:
    """Each compiler at each of its precisions at the most threads and the first batch size,
    in turns (every compiler's first precision, then every compiler's second, ...), so a budget
    that runs out leaves no compiler untried; its variants change the thread count, the batch
    size or one option value (the values `compiler.search_values` offers at that precision);
    options in `fixed` (the user's) are not varied."""
    fixed = set(fixed)
    by_name = {c.name: c for c in compilers}
    most = max(threads)
    precisions = {c.name: precisions_of(c) for c in compilers}
    turns = max((len(p) for p in precisions.values()), default=0)
    starts = [
        Candidate(c.name, precisions[c.name][k], most, batches[0])
        for k in range(turns)
        for c in compilers
        if k < len(precisions[c.name])
    ]

    def variants(cand: Candidate) -> list[Candidate]:
        compiler = by_name[cand.compiler]
        out = [cand.with_changes(threads=t) for t in threads if t != cand.threads]
        out += [cand.with_changes(batch=b) for b in batches if b != cand.batch]
        for option in compiler.declared_options:
            if option.name in fixed:
                continue
            for value in compiler.search_values(option, cand.precision):
                if value != option.default and (option.name, value) not in cand.options:
                    out.append(cand.with_changes(options={option.name: value}))
        return out

    return Space(starts, variants)


def confirm(best: Trial, runner_up: Trial | None, objective: str, alpha: float = 0.05) -> str:
    """Whether the winner beats the runner-up significantly, on their raw per-image samples."""
    from edgebench.report.compare import mann_whitney

    if runner_up is None:
        return "no runner-up within the accuracy budget: nothing to confirm against"
    if objective not in ("latency", "throughput"):
        return f"{objective} has no per-run samples to test; the figures decide"
    a = [s / best.candidate.batch for s in best.cell.latency_samples_ms]
    b = [s / runner_up.candidate.batch for s in runner_up.cell.latency_samples_ms]
    if len(a) < 5 or len(b) < 5:
        return "too few samples to test the winner against the runner-up"
    p = mann_whitney(a, b)
    verdict = "significantly faster than" if p < alpha else "not significantly faster than"
    return (
        f"{best.candidate.label} is {verdict} {runner_up.candidate.label} "
        f"(Mann-Whitney p{'<1e-6' if p < 1e-6 else f'={p:.2g}'})"
    )


Measure = Callable[[Candidate, StopRuleSettings, str, float], tuple[CellResult, str | None]]
# Times two measured trials side by side (interleaved blocks in one process): their paired
# ratio, the second's time over the first's; None where they cannot be (a remote device)
Pair = Callable[[Trial, Trial], PairedRatio | None]
PAIRED_EFFECT = 0.02  # a winner must beat the runner-up by more than the host's drift shows


class Tuner:
    """Runs the search with `measure(candidate, stop_rule, round, seconds_left)`, which
    returns the candidate's cell (one stored cell) and the run it was reused from, if any."""

    def __init__(
        self,
        measure: Measure,
        objective: str,
        max_drop: float,
        budget_s: float,
        full: StopRuleSettings,
        on_progress: Callable[[str], None] = lambda s: None,
        clock: Callable[[], float] = time.monotonic,
        pair: Pair | None = None,
    ) -> None:
        check_objective(objective)
        self.pair = pair
        if budget_s < MIN_BUDGET_S:
            raise BudgetTooSmall(
                f"--budget {_duration(budget_s)} is too small for one candidate: each takes "
                f"at least {MIN_BUDGET_S:g} s here (a worker's start, the model's load, a "
                f"{SCREEN.min_duration_s:g} s window); give --budget {MIN_BUDGET_S:g}s or more"
            )
        self.measure, self.full, self.on_progress, self.clock = measure, full, on_progress, clock
        self.screen = SCREEN.model_copy(update={"max_runs": full.max_runs})
        self.result = TuneResult(objective, max_drop, budget_s)
        self._started = clock()
        self._durations: list[float] = []
        self._screened: set[Candidate] = set()

    def spent(self) -> float:
        return self.clock() - self._started

    def run(self, space: Space) -> TuneResult:
        r = self.result
        self._round(space.starts, "precisions", self.screen, SHARES["precisions"])
        leaders = self._leaders(r.trials)
        variants = [v for t in leaders for v in space.variants(t.candidate)]
        self._round(variants, "knobs", self.screen, SHARES["knobs"])
        self._round(self._combined(leaders), "knobs", self.screen, SHARES["knobs"])
        self._finals()
        r.spent_s = self.spent()
        return r

    # --- rounds --------------------------------------------------------------------------------
    def _round(
        self, candidates: list[Candidate], name: str, rule: StopRuleSettings, share: float
    ) -> list[Trial]:
        r = self.result
        todo = [c for c in dict.fromkeys(candidates) if c not in self._screened or name == "full"]
        done: list[Trial] = []
        for i, cand in enumerate(todo):
            if self.spent() >= r.budget_s:  # a limit every time, whatever was reused
                r.notes.append(
                    f"{name} round: the budget was spent after {i} of {len(todo)} candidates; "
                    "raise --budget to measure them all"
                )
                break
            estimate = statistics.median(self._durations) if self._durations else 0.0
            if self._durations and self.spent() + estimate > r.budget_s * share:
                left = max(0.0, r.budget_s * share - self.spent())
                r.notes.append(
                    f"{name} round: {i} of {len(todo)} candidates measured; the {left:.0f} s "
                    f"left to it ({share:.0%} of --budget, less what was spent) would not fit "
                    f"another (about {estimate:.0f} s each); raise --budget to measure them all"
                )
                break
            self.on_progress(f"{name} {i + 1}/{len(todo)}: {cand.label}")
            started = self.clock()
            cell, reused = self.measure(cand, rule, name, r.budget_s - self.spent())
            took = self.clock() - started
            if reused is None:
                self._durations.append(took)
            trial = Trial(cand, cell, name, reused)
            r.trials.append(trial)
            done.append(trial)
            self._screened.add(cand)
            if len(r.trials) == 1 and took > r.budget_s:
                raise BudgetTooSmall(
                    f"--budget {_duration(r.budget_s)} is too small: the first candidate "
                    f"({cand.label}) took {_duration(took)} with its conversion; give at least "
                    f"{_duration(took * len(todo) * 1.5)} for the {len(todo)} first-round ones"
                )
        return done

    def _leaders(self, trials: list[Trial]) -> list[Trial]:
        ranked = self.result.ranked(trials)
        return ranked[: max(2, math.ceil(len(ranked) * LEAD))]

    def _combined(self, leaders: list[Trial]) -> list[Candidate]:
        """For each leader, every knob change that helped it, all together."""
        r = self.result
        out = []
        for lead in leaders:
            ref = objective_value(lead.cell, r.objective)
            if ref is None:
                continue
            helped = [
                t.candidate
                for t in r.ranked(r.trials)
                if t.round == "knobs"
                and (t.candidate.compiler, t.candidate.precision)
                == (lead.candidate.compiler, lead.candidate.precision)
                and (objective_value(t.cell, r.objective) or ref) < ref
            ]
            if len(helped) < 2:
                continue
            changes: dict[str, Any] = {}
            options: dict[str, Any] = {}
            for cand in reversed(helped):  # the best change of each knob wins
                if cand.threads != lead.candidate.threads:
                    changes["threads"] = cand.threads
                if cand.batch != lead.candidate.batch:
                    changes["batch"] = cand.batch
                options.update(dict(cand.options))
            out.append(lead.candidate.with_changes(options=options, **changes))
        return out

    def _finals(self) -> None:
        r = self.result
        ranked = r.ranked(r.trials)
        if not ranked:
            r.notes.append(self._nothing_fits())
            return
        keep = ranked[: min(MAX_FINALISTS, max(2, math.ceil(len(ranked) * LEAD)))]
        finals = self._round([t.candidate for t in keep], "full", self.full, 1.0)
        ranked = r.ranked(finals) or ranked
        r.best = ranked[0]
        r.runner_up = ranked[1] if len(ranked) > 1 else None
        r.confirmation = self._confirm(r.best, r.runner_up)

    def _confirm(self, best: Trial, runner_up: Trial | None) -> str:
        """The winner against the runner-up, timed side by side where they can be: two
        cells measured minutes apart differ by the host's drift as much as by themselves."""
        r = self.result
        if self.pair is None or runner_up is None or r.objective not in ("latency", "throughput"):
            return confirm(best, runner_up, r.objective)
        self.on_progress(f"confirming {best.candidate.label} against {runner_up.candidate.label}")
        try:
            paired = self.pair(best, runner_up)
        except EdgebenchError as exc:
            return f"{confirm(best, runner_up, r.objective)}; side by side: {exc}"
        if paired is None:
            return confirm(best, runner_up, r.objective)
        r.paired = paired.to_dict()
        shown = (
            f"{runner_up.candidate.label} / {best.candidate.label} = {paired.ratio:.3f} "
            f"(95% {paired.low:.3f}-{paired.high:.3f}, {paired.pairs} interleaved pairs)"
        )
        if paired.verdict == "slower":
            return f"{best.candidate.label} is faster than {runner_up.candidate.label}: {shown}"
        if paired.verdict == "faster":  # side by side, the runner-up wins
            r.best, r.runner_up = runner_up, best
            r.overturned = (runner_up.candidate, best.candidate)
            return (
                f"{runner_up.candidate.label} is faster than {best.candidate.label} side by side "
                f"(their separate cells said otherwise: the host drifted between them); it "
                f"wins: {shown}"
            )
        if paired.verdict == "same":
            return (
                f"{best.candidate.label} and {runner_up.candidate.label} are tied side by side "
                f"(within {PAIRED_EFFECT:.0%}): {shown}; either will do"
            )
        return (
            f"{best.candidate.label} and {runner_up.candidate.label} cannot be told apart side "
            f"by side: the host's drift hides any difference ({shown}); treat them as tied"
        )

    def _nothing_fits(self) -> str:
        r = self.result
        ok = [t for t in r.trials if t.cell.status == "ok"]
        if not ok:
            return "no candidate ran (each one's reason is in its cell)"
        if all(objective_value(t.cell, r.objective) is None for t in ok):
            why = next((t.cell.power_source for t in ok if t.cell.power_source), None)
            return f"no candidate has a {r.objective} figure" + (f": {why}" if why else "")
        closest = max(ok, key=lambda t: agreement(t.cell))
        return (
            f"no candidate keeps the accuracy within {r.max_drop:.1%} of the FP32 reference: "
            f"the closest is {closest.candidate.label} (agreement {agreement(closest.cell):.3f}, "
            f"{shown_value(closest.cell, r.objective)})"
        )


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise UsageError(f"--objective takes {', '.join(OBJECTIVES)}, not '{objective}'")


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def parse_budget(text: str) -> float:
    """`15m`, `600s`, `1h`, `90` (seconds) -> seconds."""
    units = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
    raw = text.strip().lower()
    unit = next((u for u in sorted(units, key=len, reverse=True) if raw.endswith(u)), "")
    try:
        value = float(raw[: len(raw) - len(unit)] if unit else raw) * units.get(unit, 1.0)
    except ValueError:
        raise UsageError(f"--budget '{text}': give a duration such as 90s, 15m or 1h") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--budget '{text}': must be more than zero")
    return value


def parse_drop(text: str) -> float:
    """`1%` or `0.01` -> 0.01: the top-1 (or agreement) drop allowed against FP32."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"--max-accuracy-drop '{text}': give a share such as 1% or 0.01") from None
    if not 0 <= value < 1:
        raise UsageError(f"--max-accuracy-drop '{text}': must be from 0% up to (not) 100%")
    return value


__all__ = [
    "MIN_BUDGET_S",
    "OBJECTIVES",
    "SCREEN",
    "BudgetTooSmall",
    "Candidate",
    "Space",
    "Trial",
    "TuneResult",
    "Tuner",
    "agreement",
    "build_space",
    "check_objective",
    "confirm",
    "objective_value",
    "parse_budget",
    "parse_drop",
    "shown_value",
]
