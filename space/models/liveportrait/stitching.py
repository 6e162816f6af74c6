"""S and R, stitching_retargeting_module: small MLPs on flattened keypoints (public file keys
'retarget_shoulder' = stitching, 'retarget_mouth' = lip, 'retarget_eye' = eye)."""

from __future__ import annotations

from torch import Tensor, nn

from .config import MLPConfig, StitchingConfig


class StitchingRetargetingNetwork(nn.Module):
    def __init__(self, cfg: MLPConfig):
        super().__init__()
        sizes = [cfg.input_size, *cfg.hidden_sizes]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]  # keys mlp.0, mlp.2, ...
        layers.append(nn.Linear(sizes[-1], cfg.output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)


class StitchingRetargeting(nn.Module):
    def __init__(self, cfg: StitchingConfig = StitchingConfig()):
        super().__init__()
        self.stitching = StitchingRetargetingNetwork(cfg.stitching)
        self.lip = StitchingRetargetingNetwork(cfg.lip)
        self.eye = StitchingRetargetingNetwork(cfg.eye)
