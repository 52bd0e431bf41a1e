"""A look inside (`mnist_demo.look_inside`): the saliency map and the first layer's features, for every registered
model (untrained ones for shapes) and the shipped one (for meaning), and the pictures made of them."""

import threading

import numpy as np
import pytest
import torch
from torch import nn

from mnist_demo.checkpoints import load_checkpoint
from mnist_demo.look_inside import TOP, diverging, feature_picture, first_layer, heat, look_inside
from mnist_demo.models import MODELS, build_model
from mnist_demo.predict import Predictor
from mnist_demo.preprocess import to_mnist
from tests.support.digits import draw


@pytest.fixture(scope="module")
def seven():
    return to_mnist(draw(7))


@pytest.mark.parametrize("name", list(MODELS))
def test_every_registered_model_gives_a_map_and_its_first_layer(name, seven):
    torch.manual_seed(0)
    model = build_model(name).eval()
    inside = look_inside(model, seven.tensor)
    assert inside.saliency.shape == (28, 28) and np.isfinite(inside.saliency).all()
    assert 0 <= inside.digit <= 9 and 0 < inside.probability <= 1
    assert len(inside.features) == TOP
    convolutional = any(isinstance(m, nn.Conv2d) for m in model.modules())
    assert inside.layer == ("conv" if convolutional else "linear")
    for feature in inside.features:
        assert np.isfinite(feature.image).all()
        assert feature.image.shape == ((14, 14) if convolutional else (28, 28))
        picture = feature_picture(inside, feature)
        assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
        assert 100 <= picture.shape[0] <= 112
    strengths = [f.activation for f in inside.features]
    assert strengths == sorted(strengths, reverse=True)
    assert not any(p.grad is not None for p in model.parameters())  # the model is left as it was


def test_the_saliency_is_where_the_ink_is(seven):
    model = load_checkpoint("default").model
    inside = look_inside(model, seven.tensor)
    assert inside.digit == 7 and inside.probability > 0.9
    ink = seven.image28 > 0
    assert np.all(inside.saliency[~ink] == 0)  # gradient x input: no ink, no vote
    assert np.count_nonzero(inside.saliency[ink]) > 0.5 * ink.sum()
    assert inside.saliency.sum() > 0  # on the whole the ink voted for the answer


def test_conv_maps_are_the_channels_after_the_first_relu_strongest_first(seven):
    model = load_checkpoint("default").model.eval()
    conv, relu = first_layer(model)
    assert isinstance(conv, nn.Conv2d) and isinstance(relu, nn.ReLU)
    with torch.no_grad():
        features = model.features  # Standardize, conv, batch norm, ReLU, ...
        expected = features[3](features[2](features[1](features[0](seven.tensor))))[0]
    inside = look_inside(model, seven.tensor)
    means = expected.mean(dim=(1, 2))
    assert [f.index for f in inside.features] == torch.argsort(means, descending=True)[:TOP].tolist()
    np.testing.assert_allclose(inside.features[0].image, expected[inside.features[0].index].numpy(), atol=1e-5)


def test_mlp_units_are_the_most_excited_rows_shown_as_their_weights(seven):
    torch.manual_seed(1)
    model = build_model("mlp").eval()
    inside = look_inside(model, seven.tensor)
    linear = model.linear_relu_stack[0]
    with torch.no_grad():
        excited = torch.relu(linear(model.flatten(seven.tensor)))[0]
    assert [f.index for f in inside.features] == torch.argsort(excited, descending=True)[:TOP].tolist()
    unit = inside.features[0]
    np.testing.assert_allclose(unit.image, linear.weight[unit.index].detach().reshape(28, 28).numpy())
    assert unit.activation == pytest.approx(float(excited[unit.index]), rel=1e-5)


def test_a_shared_predictor_stays_correct_while_others_predict(seven):
    predictor = Predictor(load_checkpoint("default").model)
    alone = look_inside(predictor.model, seven.tensor)
    stop = threading.Event()
    other = to_mnist(draw(1)).tensor

    def predict_forever():
        while not stop.is_set():
            predictor.probabilities(other)

    thread = threading.Thread(target=predict_forever)
    thread.start()
    try:
        for _ in range(20):
            inside = look_inside(predictor.model, seven.tensor)
            assert [f.index for f in inside.features] == [f.index for f in alone.features]
            np.testing.assert_allclose(inside.features[0].image, alone.features[0].image, atol=1e-5)
    finally:
        stop.set()
        thread.join()
    assert predictor.predict(draw(7)).digit == 7


def test_pictures_colour_by_sign_and_strength():
    values = np.zeros((28, 28), np.float32)
    values[5, 5], values[6, 6] = 2.0, -1.0
    rgb = diverging(values, scale=10)
    assert rgb.shape == (280, 280, 3)
    red, blue, white = rgb[55, 55], rgb[65, 65], rgb[0, 0]
    assert red[0] > 200 and red[2] < 60  # full red at the largest magnitude
    assert blue[2] > blue[0] and blue[0] > 100  # half-strength blue
    assert tuple(white) == (255, 255, 255)
    assert diverging(np.zeros((3, 3)), 1).min() == 255  # nothing to show: white, no division by zero
    assert heat(np.zeros((2, 2))).max() == 0 and tuple(heat(np.array([[0.0, 1.0]]))[0, 1]) == (255, 255, 255)


def test_bad_input_is_refused():
    model = build_model("cnn").eval()
    with pytest.raises(ValueError, match="1, 1, 28, 28"):
        look_inside(model, torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        first_layer(nn.Sequential(nn.ReLU()))
