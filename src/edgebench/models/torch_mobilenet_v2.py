"""MobileNetV2 in plain PyTorch, laid out like torchvision's (so its checkpoints load as they
are), taking NHWC input like every other edgebench model. Imported only inside a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.models.torch_checkpoint import load_state_dict
from edgebench.models.torchvision_mobilenet_v2 import MOBILENET_V2_SETTINGS as _SETTINGS


def _divisible(value: float, divisor: int = 8) -> int:
    """torchvision's and Keras's channel rounding for width multipliers."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def make_module(width: float = 1.0, num_classes: int = 1000) -> Any:
    import torch
    from torch import nn

    def conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            layers: list[nn.Module] = [] if expand == 1 else [conv_bn(cin, hidden, 1, 1)]
            layers += [
                conv_bn(hidden, hidden, 3, stride, groups=hidden),
                nn.Conv2d(hidden, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            ]
            self.conv = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv(x) if self.residual else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            cin = _divisible(32 * width)
            last = _divisible(1280 * max(1.0, width))
            features: list[nn.Module] = [conv_bn(3, cin, 3, 2)]
            for t, c, n, s in _SETTINGS:
                cout = _divisible(c * width)
                for i in range(n):
                    features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                    cin = cout
            features.append(conv_bn(cin, last, 1, 1))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.features(x.permute(0, 3, 1, 2))  # NHWC in, as every edgebench model
            return self.classifier(x.mean((2, 3)))

    return MobileNetV2()


def build(out: Path, weights: str | None = None, width: float = 1.0, size: int = 224) -> None:
    """Exports the network as a torch.export program (`model.pt2`) with a dynamic batch."""
    import torch

    torch.manual_seed(0)
    module = make_module(width).eval()
    if weights:
        state = {k: torch.from_numpy(v) for k, v in load_state_dict(Path(weights)).items()}
        module.load_state_dict(state)
    example = (torch.zeros(2, size, size, 3),)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(module, example, dynamic_shapes=({0: batch},))
    torch.export.save(program, str(out))
