"""Top-k accuracy, fidelity to a reference, and COCO mAP. NumPy only (pycocotools for mAP)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# COCO's 80 contiguous training classes -> its 91 category ids (1-based, with gaps).
COCO80_TO_91 = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
)  # fmt: skip


def label_offset(label_set: str) -> int:
    """Output index of class 0: 1 for label sets with a background class in front."""
    return 1 if label_set in ("imagenet1001",) else 0


def topk_hits(logits: np.ndarray, labels: Sequence[Sequence[int]], k: int, offset: int = 0) -> int:
    """How many rows have any acceptable label among their k highest outputs."""
    top = np.argsort(-logits, axis=1)[:, :k] - offset
    return sum(bool(set(top[i].tolist()) & set(labels[i])) for i in range(len(labels)))


def classification_accuracy(
    logits: np.ndarray, labels: Sequence[Sequence[int]], offset: int = 0
) -> dict[str, float]:
    n = len(labels)
    return {
        "top1": topk_hits(logits, labels, 1, offset) / n,
        "top5": topk_hits(logits, labels, min(5, logits.shape[1]), offset) / n,
    }


FLAT_REFERENCE = (
    "the FP32 reference's outputs do not vary with the input: any artifact would agree, so "
    "no fidelity figure is shown"
)


def does_not_vary(reference: np.ndarray) -> bool:
    """Whether outputs (samples x values) are the same for every input, to within float32
    rounding (a random network whose activations faded away)."""
    if reference.shape[0] < 2:
        return False
    scale = float(np.max(np.abs(reference))) or 1.0
    return float(np.max(np.std(reference, axis=0))) <= 1e-6 * scale


def non_finite(arrays: Sequence[np.ndarray]) -> tuple[int, int]:
    """How many of the arrays' values are NaN or infinite, and how many values there are (a
    broken artifact, or weights overwritten with 0xFF, gives NaN: no figure may read that as
    agreement)."""
    bad = total = 0
    for a in arrays:
        a = np.asarray(a)
        total += int(a.size)
        if a.dtype.kind in "fc":
            bad += int(a.size - np.count_nonzero(np.isfinite(a)))
    return bad, total


def non_finite_error(bad: int, total: int, whose: str = "its") -> str:
    return f"{bad} of {total} of {whose} output values are not finite (NaN or inf)"


def fidelity(
    outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray], task: str
) -> dict[str, Any]:
    """How close a compiled model's outputs are to the FP32 reference's, on the same inputs.

    Returns top-1 agreement (classifiers), the largest absolute difference, the mean cosine
    similarity per sample and the signal-to-noise ratio in dB (reference power over the power
    of the difference; inf when identical). Detectors' outputs are ranked lists whose order
    changes with tiny score differences, so an elementwise comparison means little: for them
    it is detection agreement instead (see `detection_agreement`).
    """
    n = int(np.asarray(reference[0]).shape[0]) if len(reference) else 0
    bad, total = non_finite(outputs)
    if bad:  # the cell's own outputs: the pipeline fails the cell on `non_finite`
        return {"n": n, "error": non_finite_error(bad, total), "non_finite": bad}
    bad, total = non_finite(reference)
    if bad:
        return {"n": n, "error": non_finite_error(bad, total, "the FP32 reference's")}
    if task == "detection":
        return detection_agreement(outputs, reference)
    pairs = _match(outputs, reference)
    out = np.concatenate([o.reshape(o.shape[0], -1).astype(np.float64) for o, _ in pairs], axis=1)
    ref = np.concatenate([r.reshape(r.shape[0], -1).astype(np.float64) for _, r in pairs], axis=1)
    if does_not_vary(ref):
        return {"n": int(ref.shape[0]), "error": FLAT_REFERENCE}
    diff = out - ref
    noise = float(np.sum(diff**2))
    signal = float(np.sum(ref**2))
    norms = np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1)
    cos = np.where(norms > 0, np.sum(out * ref, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    result: dict[str, Any] = {
        "n": int(out.shape[0]),
        "max_abs_diff": float(np.max(np.abs(diff))) if diff.size else 0.0,
        "cosine": float(np.mean(cos)),
        "snr_db": (10 * math.log10(signal / noise)) if noise > 0 else math.inf,
    }
    if task == "classification" and pairs[0][0].ndim == 2:
        o, r = pairs[0]
        result["top1_agreement"] = float(np.mean(np.argmax(o, axis=1) == np.argmax(r, axis=1)))
    return result


def _box_area(z: np.ndarray) -> np.ndarray:
    return np.clip(z[..., 2] - z[..., 0], 0, None) * np.clip(z[..., 3] - z[..., 1], 0, None)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one (ymin, xmin, ymax, xmax) box against many."""
    y0, x0 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    y1, x1 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    union = _box_area(a) + _box_area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def detection_agreement(
    outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray], top: int = 10, iou: float = 0.5
) -> dict[str, Any]:
    """Share of the reference's `top` highest-scoring detections per image that the compiled
    model also finds (same class, IoU >= 0.5), and the mean score difference of those matches."""
    boxes, classes, scores, count = split_detections(outputs)
    rboxes, rclasses, rscores, rcount = split_detections(reference)
    matched, total, score_diffs = 0, 0, []
    for i in range(rboxes.shape[0]):
        n_out = int(count[i])
        order = np.argsort(-rscores[i, : int(rcount[i])])[:top]
        for j in order:
            total += 1
            same = np.nonzero(classes[i, :n_out] == rclasses[i, j])[0]
            if same.size == 0:
                continue
            overlaps = _iou(rboxes[i, j], boxes[i, same])
            k = int(np.argmax(overlaps))
            if overlaps[k] >= iou:
                matched += 1
                score_diffs.append(abs(float(scores[i, same[k]]) - float(rscores[i, j])))
    if not total:
        return {
            "n": int(rboxes.shape[0]),
            "error": "the FP32 reference found no detection: there is nothing to agree on",
        }
    return {
        "n": int(rboxes.shape[0]),
        "detection_agreement": matched / total,
        "mean_score_diff": float(np.mean(score_diffs)) if score_diffs else None,
    }


def _match(
    outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs outputs with reference outputs by shape: runtimes may order outputs differently."""
    if len(outputs) != len(reference):
        raise ValueError(f"{len(outputs)} outputs against {len(reference)} reference outputs")
    remaining = list(reference)
    pairs = []
    for o in outputs:
        same = [i for i, r in enumerate(remaining) if r.shape == o.shape]
        if not same and o.ndim == 4:
            # A converter that changes layout (onnx2tf: NCHW to NHWC) gives the same values
            # in another order: compare them in the reference's.
            nchw = o.transpose(0, 3, 1, 2)
            same = [i for i, r in enumerate(remaining) if r.shape == nchw.shape]
            o = nchw if same else o
        if not same:
            raise ValueError(f"no reference output has shape {o.shape}")
        # Among equal shapes, the closest one (e.g. detection scores vs classes).
        best = min(same, key=lambda i: float(np.mean(np.abs(remaining[i].astype(np.float64) - o))))
        pairs.append((o, remaining.pop(best)))
    return pairs


def split_detections(
    outputs: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(boxes [N,K,4], classes [N,K], scores [N,K], count [N]) from SSD-style outputs in any order.

    Classes and scores have the same shape. Scores lie in [0, 1]; class ids are whole numbers,
    but a fully int8 graph computes them in int8 and hands out 46.235 for class 46: the ids
    are told from the scores by their range (then by being nearer whole numbers) and rounded.
    """
    boxes = next(o for o in outputs if o.ndim == 3 and o.shape[-1] == 4)
    count = next(o for o in outputs if o.ndim == 1)
    two = [o for o in outputs if o.ndim == 2]
    if len(two) != 2:
        raise ValueError("detection outputs need boxes, classes, scores and a count")
    a, b = two
    a_past_one, b_past_one = bool(np.any(a > 1.0 + 1e-3)), bool(np.any(b > 1.0 + 1e-3))
    a_is_classes = a_past_one if a_past_one != b_past_one else _off_whole(a) < _off_whole(b)
    classes, scores = (a, b) if a_is_classes else (b, a)
    return boxes, np.rint(classes), scores, count


def _off_whole(x: np.ndarray) -> float:
    """Mean distance of the values from the nearest whole number."""
    return float(np.mean(np.abs(x - np.rint(x)))) if x.size else 0.0


def coco_detections(
    outputs: Sequence[np.ndarray],
    image_ids: Sequence[int],
    image_sizes: Sequence[tuple[int, int]],
    label_set: str = "coco91",
) -> list[dict[str, Any]]:
    """Detections in COCO's result format: normalized (ymin, xmin, ymax, xmax) boxes become
    pixel [x, y, width, height] of the original image; class ids map to COCO category ids."""
    boxes, classes, scores, count = split_detections(outputs)
    results = []
    for i, image_id in enumerate(image_ids):
        h, w = image_sizes[i]
        for j in range(int(count[i])):
            cls = int(round(float(classes[i, j])))
            category = COCO80_TO_91[cls] if label_set == "coco80" else cls
            y0, x0, y1, x1 = (float(v) for v in boxes[i, j])
            x0, x1 = max(0.0, x0) * w, min(1.0, x1) * w
            y0, y1 = max(0.0, y0) * h, min(1.0, y1) * h
            results.append(
                {
                    "image_id": int(image_id),
                    "category_id": category,
                    "bbox": [x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)],
                    "score": float(scores[i, j]),
                }
            )
    return results


def coco_map(
    annotations_file: str, detections: list[dict[str, Any]], image_ids: Sequence[int]
) -> dict[str, float]:
    """mAP@[.5:.95] and mAP@.5 by pycocotools, over the given images only."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO(annotations_file)
        if not detections:
            return {"map": 0.0, "map50": 0.0}
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map": max(0.0, float(ev.stats[0])), "map50": max(0.0, float(ev.stats[1]))}
