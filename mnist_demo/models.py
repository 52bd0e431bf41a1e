"""The model registry: name -> builder, with a one-line description.

Every model takes images in [0, 1] shaped [N, 1, 28, 28] (what data.normalize gives) and returns [N, 10] logits.
"""

from dataclasses import dataclass
from typing import Callable

from torch import nn

from mnist_demo.data import MEAN, STD


class Standardize(nn.Module):
    """Shift and scale [0, 1] pixels to MNIST's mean 0 and std 1; no parameters, nothing in the state dict."""

    def forward(self, x):
        return (x - MEAN) / STD


class NeuralNetwork(nn.Module):
    """The tutorial's network, as written there (784-512-512-10 with a ReLU after every layer).

    Like the tutorial it reads ToTensor() pixels in [0, 1] as they are; `standardize` adds the usual
    MNIST standardisation in front (the `mlp` model), which trains much faster.
    """

    def __init__(self, final_relu: bool = True, standardize: bool = False):
        super().__init__()
        self.flatten = nn.Sequential(Standardize(), nn.Flatten()) if standardize else nn.Flatten()
        layers = [nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)]
        if final_relu:
            layers.append(nn.ReLU())
        self.linear_relu_stack = nn.Sequential(*layers)

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class SmallCNN(nn.Module):
    """Three 3x3 conv blocks (28 -> 14 -> 7 -> 3) with batch norm, then a linear classifier."""

    def __init__(self, widths: tuple[int, int, int] = (24, 48, 96)):
        super().__init__()
        a, b, c = widths
        self.features = nn.Sequential(Standardize(), _conv_block(1, a), _conv_block(a, b), _conv_block(b, c))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c * 3 * 3, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[], nn.Module]
    description: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("tutorial", NeuralNetwork,
                  "The tutorial's MLP 784-512-512-10, final ReLU included. That last ReLU clips the "
                  "logits at 0 (a known mistake of the tutorial), which slows and hurts learning; "
                  "kept for fidelity."),
        ModelSpec("mlp", lambda: NeuralNetwork(final_relu=False, standardize=True),
                  "The tutorial's MLP 784-512-512-10 without the final ReLU (logits can go negative), "
                  "on standardised pixels."),
        ModelSpec("cnn", SmallCNN,
                  "A small convolutional net (3 conv blocks with batch norm): >= 99% test accuracy "
                  "after one epoch."),
    )
}


def build_model(name: str) -> nn.Module:
    """A freshly initialised model of the registered `name` (KeyError-free: validate the name first)."""
    return MODELS[name].build()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe_models() -> list[dict]:
    """One row per registered model: name, parameters, description."""
    return [{"name": s.name, "parameters": param_count(s.build()), "description": s.description}
            for s in MODELS.values()]
