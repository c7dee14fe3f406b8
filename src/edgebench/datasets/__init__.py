"""Datasets for accuracy, fidelity and INT8 calibration: `imagenet:PATH`, `coco:PATH`,
`folder:PATH`, `samples` and `synthetic`. Imports no framework (images are read with Pillow)."""

from edgebench.datasets.base import Dataset, Item, parse_dataset

__all__ = ["Dataset", "Item", "parse_dataset"]
