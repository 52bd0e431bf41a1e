"""A look inside a model for one input: which pixels pushed it to its answer, and what its first layer makes of
the input. No gradio: the app shows these arrays as images.

- Saliency is *gradient x input* of the predicted digit's logit: one forward and one backward pass (a few ms),
  exact for the model itself, and zero wherever there is no ink (the input is 0 there), so it reads as "this
  stroke voted for the answer (positive) or against it (negative)". Occlusion (blanking patches and re-running
  the model) would need one forward per patch (~100-200 for a 28x28 input) for a blurrier map of the same idea.
- The first layer is the model's first Conv2d or Linear, read after the ReLU that follows it (what the next
  layer receives). A convolutional model: its strongest feature maps (channels ranked by mean activation). An
  MLP: its most activated first-layer units, each shown as its 784 weights laid out as a 28x28 image (the
  pattern of ink that unit responds to).

Both come from the same forward pass, so one call costs one forward and one backward (measured in
benchmarks/mistakes_speed.py: see docs/measurements.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

SIDE = 28
TOP = 8  # feature maps or units shown: a row of 8 fits a phone's width at 40 px each


@dataclass(frozen=True)
class Feature:
    """One first-layer channel or unit: `image` float32 [H, W] (a feature map, or a unit's 28x28 weights)."""

    index: int  # channel or unit number in the layer
    activation: float  # mean activation over the map (conv), or the unit's activation (MLP)
    image: np.ndarray


@dataclass(frozen=True)
class Inside:
    """What one input does inside the model."""

    digit: int  # the predicted digit (the class the saliency is for)
    probability: float
    saliency: np.ndarray  # float32 [28, 28], gradient x input of `digit`'s logit; >0 pushed towards it
    layer: str  # "conv" or "linear"
    features: list[Feature]  # the strongest first, at most TOP
    units: int  # channels (conv) or units (linear) in that layer


def first_layer(model: nn.Module) -> tuple[nn.Module, nn.Module | None]:
    """(the first Conv2d or Linear, the first ReLU after it or None) in the model's module order.

    The registered models are Sequential stacks, so module order is forward order. ValueError if it has neither.
    """
    named = list(model.named_modules())
    for i, (_, module) in enumerate(named):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            relu = next((m for _, m in named[i + 1:] if isinstance(m, nn.ReLU)), None)
            return module, relu
    raise ValueError("this model has no Conv2d or Linear layer to look into")


def look_inside(model: nn.Module, x: torch.Tensor, top: int = TOP) -> Inside:
    """The saliency and first-layer features of `model` for one normalised input `x` [1, 1, 28, 28] (as
    `Preprocessed.tensor` gives). The model is left as it was (its parameters get no gradients); safe on
    a model other threads use for predictions at the same time.
    """
    if x.shape != (1, 1, SIDE, SIDE):
        raise ValueError(f"one input of shape (1, 1, 28, 28) is expected, not {tuple(x.shape)}")
    layer, relu = first_layer(model)
    seen: dict[str, torch.Tensor] = {}
    me = threading.get_ident()

    def keep(key):
        def hook(module, inputs, output):
            # A Predictor's model is shared: other threads' forward passes run these hooks too while they are
            # registered, and only this thread's pass is ours. clone: an in-place ReLU may overwrite the output.
            if threading.get_ident() == me:
                seen[key] = output.detach().clone()
        return hook

    handles = [layer.register_forward_hook(keep("layer"))]
    if relu is not None:
        handles.append(relu.register_forward_hook(keep("relu")))
    was_training = model.training
    try:
        if was_training:  # a Predictor's model is in eval mode already, and is never switched
            model.eval()
        with torch.enable_grad():
            inp = x.detach().float().clone().requires_grad_(True)
            logits = model(inp)
            digit = int(logits[0].argmax())
            # the gradient for the input only: parameters get none, so a shared model is left untouched
            (grad,) = torch.autograd.grad(logits[0, digit], inp)
    finally:
        for handle in handles:
            handle.remove()
        if was_training:
            model.train()
    probability = float(torch.softmax(logits.detach()[0].double(), dim=0)[digit])
    saliency = (grad * inp.detach())[0, 0].numpy().astype(np.float32)
    # The ReLU after the layer, when it acts on the layer's output shape (not a later layer's); else the layer.
    acts = seen.get("relu")
    if acts is None or acts.shape[1] != seen["layer"].shape[1] or acts.dim() != seen["layer"].dim():
        acts = seen["layer"].clamp(min=0)
    if isinstance(layer, nn.Conv2d):
        maps = acts[0].float()  # [C, H, W]
        strength = maps.mean(dim=(1, 2))
        order = torch.argsort(strength, descending=True, stable=True)[:top]
        features = [Feature(int(c), float(strength[c]), maps[c].numpy().astype(np.float32)) for c in order]
        return Inside(digit, probability, saliency, "conv", features, maps.shape[0])
    units = acts[0].float()  # [out_features]
    order = torch.argsort(units, descending=True, stable=True)[:top]
    weights = layer.weight.detach().float()
    if weights.shape[1] != SIDE * SIDE:
        raise ValueError(f"the first Linear layer takes {weights.shape[1]} inputs, not 28x28 pixels")
    features = [Feature(int(u), float(units[u]), weights[u].reshape(SIDE, SIDE).numpy().astype(np.float32))
                for u in order]
    return Inside(digit, probability, saliency, "linear", features, units.shape[0])


# --------------------------------------------------------------------------- as pictures

def _enlarge(rgb: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def diverging(values: np.ndarray, scale: int = 10, base: np.ndarray | None = None, gamma: float = 1.0) -> np.ndarray:
    """uint8 RGB [H*scale, W*scale]: positive values red, negative blue, zero white (symmetric around 0, the
    largest magnitude at full colour; `gamma` < 1 lifts the weak values, as |v|**gamma); `base` (uint8 [H, W] ink,
    255 = ink) is drawn faintly grey beneath, so the colours sit on the digit they explain. Nearest-neighbour
    enlarged, so each input pixel stays a square."""
    values = np.asarray(values, dtype=np.float32)
    peak = float(np.abs(values).max()) if values.size else 0.0
    v = values / peak if peak > 0 else np.zeros_like(values)
    v = np.sign(v) * np.abs(v) ** gamma
    rgb = np.ones(values.shape + (3,), dtype=np.float32)
    if base is not None:
        rgb *= (1.0 - 0.35 * (np.asarray(base, dtype=np.float32) / 255.0))[..., None]
    pos, neg = np.clip(v, 0, 1)[..., None], np.clip(-v, 0, 1)[..., None]
    red, blue = np.array([0.84, 0.15, 0.16], np.float32), np.array([0.13, 0.40, 0.80], np.float32)
    rgb = rgb * (1 - pos) + red * pos
    rgb = rgb * (1 - neg) + blue * neg
    return _enlarge((rgb * 255).round().astype(np.uint8), max(1, int(scale)))


def heat(values: np.ndarray, scale: int = 1) -> np.ndarray:
    """uint8 RGB [H*scale, W*scale]: a non-negative map from black (0) through orange to pale yellow (its max)."""
    values = np.asarray(values, dtype=np.float32)
    peak = float(values.max()) if values.size else 0.0
    t = np.clip(values / peak, 0, 1) if peak > 0 else np.zeros_like(values)
    rgb = np.stack([np.clip(1.6 * t, 0, 1), np.clip(1.6 * t - 0.45, 0, 1), np.clip(2.5 * t - 1.5, 0, 1)], axis=-1)
    return _enlarge((rgb * 255).round().astype(np.uint8), max(1, int(scale)))


def feature_picture(inside: Inside, feature: Feature, side: int = 112) -> np.ndarray:
    """One feature as an RGB image about `side` px wide: a conv map as heat, an MLP unit's weights diverging."""
    h = feature.image.shape[0]
    scale = max(1, side // h)
    if inside.layer == "conv":
        return heat(feature.image, scale)
    return diverging(feature.image, scale)
