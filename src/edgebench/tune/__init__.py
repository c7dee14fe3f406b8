"""`edgebench tune`: the fastest way to run one model here (or on a target), under an accuracy
budget.

- search.py: the search itself, on plain records (no framework, no store): candidates,
  successive halving, the Pareto front, what each knob contributed, the confirmation test;
- session.py: runs a search on the harness (one stored run, a cell per measurement, stored
  cells reused rather than measured again);
- reproduce.py: the winner as an `edgebench run` line and a few lines of its runtime's API.
"""

from __future__ import annotations

from edgebench.tune.search import OBJECTIVES, Candidate, Trial, TuneResult

__all__ = ["OBJECTIVES", "Candidate", "Trial", "TuneResult"]
