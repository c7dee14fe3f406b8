"""Reading images and turning them into a model's input tensors, outside any timed region.

Preprocessing follows the model's metadata and is identical for every compiler:
- `tf`: resize the shorter side to 256/224 of the input, centre-crop, scale to [-1, 1]
  (Keras applications' "tf" mode);
- `torch`: the same resize and crop, then /255 and ImageNet mean/std (torchvision);
- `lite`: the same resize and crop, then (x - 127) / 128 (EfficientNet-Lite);
- `ssd`: resize the whole image to the input size, scale to [-1, 1];
- `unit`: resize the whole image to the input size, scale to [0, 1] (MediaPipe's landmark
  and segmentation models);
- `resize-torch`: resize the whole image to the input size, then /255 and ImageNet mean/std
  (PaddleOCR's text detector);
- `none`: resize to the input size, pixel values as they are;
- `norm:MEAN/STD`: resize to the input size, then (x - MEAN) / STD on 0-255 pixels, MEAN and
  STD one number or one per channel (a .tflite's own normalization metadata, or
  `--input-range` / `--input-mean` and `--input-std`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class UnreadableImage(Exception):
    pass


def load_rgb(path: Path) -> np.ndarray:
    """An image as HxWx3 uint8 RGB; UnreadableImage when it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise UnreadableImage(f"{path}: {exc}") from exc


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BILINEAR))


def resize_crop(img: np.ndarray, size: int, crop_fraction: float = 0.875) -> np.ndarray:
    """Shorter side to size/crop_fraction (256 for 224), then the centre size x size."""
    h, w = img.shape[:2]
    short = round(size / crop_fraction)
    scale = short / min(h, w)
    img = _resize(img, max(size, round(w * scale)), max(size, round(h * scale)))
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return img[top : top + size, left : left + size]


def normalization(mode: str) -> tuple[np.ndarray, np.ndarray]:
    """MEAN and STD of a `norm:MEAN/STD` mode (each one number or one per channel)."""
    mean, _, std = mode.removeprefix("norm:").partition("/")
    return (
        np.array([float(v) for v in mean.split(",")], dtype=np.float32),
        np.array([float(v) for v in std.split(",")], dtype=np.float32),
    )


def norm_mode(mean: list[float], std: list[float]) -> str:
    return f"norm:{','.join(f'{v:g}' for v in mean)}/{','.join(f'{v:g}' for v in std)}"


def range_mode(lo: float, hi: float) -> str:
    """The mode that scales 0-255 pixels to [lo, hi]."""
    return norm_mode([-lo * 255.0 / (hi - lo)], [255.0 / (hi - lo)])


# What each fixed mode feeds, from 0-255 pixels (torch-style: about [-2.1, 2.6])
_RANGES = {
    "tf": (-1.0, 1.0),
    "ssd": (-1.0, 1.0),
    "lite": (-127.0 / 128.0, 1.0),
    "unit": (0.0, 1.0),
    "none": (0.0, 255.0),
    "torch": (float(((0 - _MEAN) / _STD).min()), float(((1 - _MEAN) / _STD).max())),
}
_RANGES["resize-torch"] = _RANGES["torch"]


def feed_range(mode: str) -> tuple[float, float]:
    """The range of values a mode feeds from 0-255 pixels."""
    if mode.startswith("norm:"):
        mean, std = normalization(mode)
        ends = np.concatenate([(0.0 - mean) / std, (255.0 - mean) / std])
        return round(float(ends.min()), 6), round(float(ends.max()), 6)
    return _RANGES[mode]


def describe(mode: str) -> str:
    """A mode as a person reads it: 'pixels scaled to [0, 1]'."""
    lo, hi = feed_range(mode)
    if mode.startswith("norm:"):
        mean, std = mode.removeprefix("norm:").split("/")
        return f"(pixel - {mean}) / {std}, in [{lo:g}, {hi:g}]"
    if mode == "none":
        return "raw pixels, 0-255"
    return f"pixels scaled to [{lo:.3g}, {hi:.3g}] ('{mode}')"


def preprocess(
    img: np.ndarray, mode: str, height: int, width: int, layout: str = "NHWC"
) -> np.ndarray:
    """One image (HxWx3 uint8) to one float32 sample in the model's layout."""
    if mode in ("tf", "torch"):
        x = resize_crop(img, height).astype(np.float32)
        x = x / 127.5 - 1.0 if mode == "tf" else (x / 255.0 - _MEAN) / _STD
    elif mode == "lite":  # EfficientNet-Lite's convention, (x - 127) / 128
        x = (resize_crop(img, height).astype(np.float32) - 127.0) / 128.0
    elif mode == "ssd":
        x = _resize(img, width, height).astype(np.float32) / 127.5 - 1.0
    elif mode == "unit":
        x = _resize(img, width, height).astype(np.float32) / 255.0
    elif mode == "resize-torch":
        x = (_resize(img, width, height).astype(np.float32) / 255.0 - _MEAN) / _STD
    elif mode == "none":
        x = _resize(img, width, height).astype(np.float32)
    elif mode.startswith("norm:"):
        mean, std = normalization(mode)
        x = (_resize(img, width, height).astype(np.float32) - mean) / std
    else:
        raise ValueError(f"unknown preprocessing '{mode}'")
    if layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x, dtype=np.float32)
