"""Batch augmentation on whole tensors: small random shifts, rotations, scaling, shear and stroke width.

It makes hand-drawn digits read better: drawings are off-centre, slanted, thick or thin in ways MNIST's
scanned digits rarely are. Inputs and outputs are float images in [0, 1] (0 = background), [N, 1, 28, 28].
"""

import math

import torch
import torch.nn.functional as F

MAX_ROTATION_DEG = 15.0
SCALE_RANGE = (0.8, 1.15)
MAX_SHIFT_PX = 2.5
MAX_SHEAR = 0.25
STROKE_CHANGE_P = 0.3  # share of images made thicker, and again thinner


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=generator, device=generator.device) * (high - low) + low).to(device)


def random_affine(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rotate, scale, shear and shift each image by its own random amount (bilinear, zero padding)."""
    n, device = x.shape[0], x.device
    angle = _uniform(n, -MAX_ROTATION_DEG, MAX_ROTATION_DEG, generator, device) * (math.pi / 180)
    scale = _uniform(n, *SCALE_RANGE, generator, device)
    shear = _uniform(n, -MAX_SHEAR, MAX_SHEAR, generator, device)
    shift = _uniform(2 * n, -MAX_SHIFT_PX, MAX_SHIFT_PX, generator, device).view(n, 2) * (2 / 28)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_stroke(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Thicken some images (grey dilation) and thin others (grey erosion) to mimic pen widths."""
    n = x.shape[0]
    pick = torch.rand(n, generator=generator, device=generator.device).to(x.device).view(n, 1, 1, 1)
    thick = F.max_pool2d(x, 3, stride=1, padding=1)
    thin = -F.max_pool2d(-x, 2, stride=1, padding=1)[..., 1:, 1:]
    x = torch.where(pick < STROKE_CHANGE_P, thick, x)
    return torch.where(pick > 1 - STROKE_CHANGE_P, torch.maximum(thin, 0.5 * x), x)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The full augmentation: stroke width, then the random affine map."""
    return random_affine(random_stroke(x, generator), generator)
