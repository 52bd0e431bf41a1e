"""Every registered model maps a batch of images to 10 logits; the tutorial model is the tutorial's."""

import pytest
import torch
from torch import nn

from mnist_demo.models import MODELS, build_model, describe_models, param_count


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("batch", [1, 5])
def test_output_shape(name, batch):
    model = build_model(name).eval()
    assert model(torch.rand(batch, 1, 28, 28)).shape == (batch, 10)


def test_tutorial_model_is_the_tutorial_network():
    layers = list(build_model("tutorial").linear_relu_stack)
    kinds = [type(m) for m in layers]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]
    assert [(m.in_features, m.out_features) for m in layers if isinstance(m, nn.Linear)] == \
        [(784, 512), (512, 512), (512, 10)]
    assert param_count(build_model("tutorial")) == 669_706


def test_tutorial_logits_are_clipped_and_mlp_logits_are_not():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28)
    assert (build_model("tutorial")(x) >= 0).all()
    assert (build_model("mlp")(x) < 0).any()


def test_registry_descriptions():
    rows = describe_models()
    assert [r["name"] for r in rows] == ["tutorial", "mlp", "cnn", "cnn-small"]
    assert all(r["parameters"] > 0 and r["description"] for r in rows)
    assert "ReLU" in MODELS["tutorial"].description
