"""Datasets for accuracy, fidelity and INT8 calibration: `imagenet:PATH`, `coco:PATH`,
`folder:PATH`, `samples`, `photos` and `synthetic`. Imports no framework (images are read with
Pillow)."""

from edgebench.datasets.base import (
    KINDS,
    Dataset,
    DatasetError,
    Item,
    load_coco,
    load_folder,
    load_imagenet,
    load_synthetic,
)
from edgebench.errors import UnknownName


def parse_dataset(spec: str) -> Dataset:
    """A dataset from `KIND[:PATH]`; raises a one-line error for anything unusable."""
    kind, _, rest = spec.partition(":")
    if kind in ("samples", "photos"):
        from edgebench.datasets.samples import load_photos, load_samples

        if rest:
            raise DatasetError(f"dataset '{spec}': {kind} takes no path (it is built in)")

        return (load_samples if kind == "samples" else load_photos)(spec)
    loaders = {
        "imagenet": load_imagenet,
        "coco": load_coco,
        "folder": load_folder,
        "synthetic": load_synthetic,
    }
    if kind not in loaders:
        raise UnknownName("dataset kind", kind, KINDS)
    return loaders[kind](spec, rest)


__all__ = ["Dataset", "Item", "parse_dataset"]
