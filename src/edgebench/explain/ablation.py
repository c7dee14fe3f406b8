"""`explain --ablate`: what each optimization accounts for.

The cell is measured again with one optimization switched off or stepped down (the compiler's
`ablations()`), and each variant is set against the cell: its median latency and the speed-up
the optimization gives, the change in size on disk, and fidelity to the FP32 reference with
and without it. Nothing here imports a framework.
"""

from __future__ import annotations

from typing import Any

from edgebench.compilers import Ablation
from edgebench.results import CellResult

_FIDELITY_KEYS = ("top1_agreement", "cosine", "snr_db", "max_abs_diff", "box_agreement")


def _fidelity(cell: CellResult) -> dict[str, float]:
    data = cell.fidelity or {}
    return {k: data[k] for k in _FIDELITY_KEYS if isinstance(data.get(k), (int, float))}


def ablation_row(ablation: Ablation, cell: CellResult, variant: CellResult) -> dict[str, Any]:
    """One variant against the cell it was made from.

    `speedup` is the variant's median latency over the cell's: how many times faster the
    optimization makes the cell (below 1: the optimization slows it down here).
    """
    row: dict[str, Any] = {
        "change": ablation.change,
        "options": ablation.options,
        "precision": variant.precision,
        "status": variant.status,
    }
    if variant.status != "ok" or variant.latency_ms is None or cell.latency_ms is None:
        row["error"] = variant.error or "the variant did not run"
        return row
    base, without = cell.latency_ms.p50, variant.latency_ms.p50
    row.update(
        {
            "p50_ms": without,
            "cell_p50_ms": base,
            "speedup": without / base if base > 0 else None,
            # Latency alone misleads for a change such as OpenVINO's THROUGHPUT hint, which
            # trades latency for images per second: both are kept.
            "throughput_ips": variant.throughput_ips,
            "cell_throughput_ips": cell.throughput_ips,
            "size_mb": variant.model_size_mb,
            "size_change_mb": (
                cell.model_size_mb - variant.model_size_mb
                if cell.model_size_mb is not None and variant.model_size_mb is not None
                else None
            ),
            "fidelity": _fidelity(variant),
            "cell_fidelity": _fidelity(cell),
        }
    )
    return row
