"""The model class of an exported run, written from the registry's own module: the same attributes, layers and
layer arguments, so the class's state_dict has the same keys and shapes as `build_model(name)`'s and a checkpoint's
weights load into it.
"""

import textwrap
from functools import lru_cache
from string import Template

import torch
from torch import nn

from mnist_demo.data import MEAN, STD
from mnist_demo.models import MODELS, Standardize, build_model


def _one(value) -> str:
    """A conv or pool size as written by hand: 5 for (5, 5)."""
    if isinstance(value, tuple) and len(set(value)) == 1:
        value = value[0]
    return repr(value)


def layer_code(m: nn.Module) -> str:
    """The constructor call that builds a layer like `m`. Only the arguments this project's layers use are written;
    any other setting raises, so that the code never silently builds a different layer."""
    def plain(ok: bool) -> None:
        if not ok:
            raise ValueError(f"no exact code for {m!r}")

    if isinstance(m, Standardize):
        return "Standardize()"
    if isinstance(m, nn.Sequential):
        return "nn.Sequential(" + ", ".join(layer_code(c) for c in m) + ")"
    if isinstance(m, nn.Linear):
        return f"nn.Linear({m.in_features}, {m.out_features}{'' if m.bias is not None else ', bias=False'})"
    if isinstance(m, nn.Conv2d):
        plain(m.dilation == (1, 1) and m.groups == 1 and m.padding_mode == "zeros" and isinstance(m.padding, tuple))
        args = [str(m.in_channels), str(m.out_channels), f"kernel_size={_one(m.kernel_size)}"]
        args += [f"stride={_one(m.stride)}"] if m.stride != (1, 1) else []
        args += [f"padding={_one(m.padding)}"] if m.padding != (0, 0) else []
        args += ["bias=False"] if m.bias is None else []
        return f"nn.Conv2d({', '.join(args)})"
    if isinstance(m, nn.BatchNorm2d):
        plain(m.eps == 1e-5 and m.momentum == 0.1 and m.affine and m.track_running_stats)
        return f"nn.BatchNorm2d({m.num_features})"
    if isinstance(m, nn.ReLU):
        return "nn.ReLU(inplace=True)" if m.inplace else "nn.ReLU()"
    if isinstance(m, nn.MaxPool2d):
        plain(m.stride in (m.kernel_size, None) and m.padding == 0 and m.dilation == 1 and not m.ceil_mode)
        return f"nn.MaxPool2d({_one(m.kernel_size)})"
    if isinstance(m, nn.Flatten):
        plain(m.start_dim == 1 and m.end_dim == -1)
        return "nn.Flatten()"
    raise ValueError(f"no code for a {type(m).__name__} layer")


def _output_shapes(model: nn.Module) -> dict[nn.Module, tuple[int, ...]]:
    """Each layer's output shape for one image (batch dimension dropped), from a real forward pass."""
    shapes, hooks = {}, []

    def record(module, inputs, output) -> None:  # a hook that returned a value would replace the output
        shapes[module] = tuple(output.shape[1:])

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, 28, 28))
    for hook in hooks:
        hook.remove()
    return shapes


def _layer_line(m: nn.Module, shapes: dict) -> tuple[str, str]:
    """A layer's code and its comment: its output shape where the layer changes it."""
    if isinstance(m, Standardize):
        return layer_code(m), "  # pixels in [0, 1] -> mean 0, std 1"
    if isinstance(m, (nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.Flatten)) and m in shapes:
        return layer_code(m), "  # -> " + "x".join(str(n) for n in shapes[m])
    return layer_code(m), ""


@lru_cache(maxsize=None)  # a model built and run once per name, not once per part of the export
def model_code(name: str) -> tuple[str, str]:
    """(code, class name): the registered model `name` as a stand-alone nn.Module class, written from the module
    `build_model(name)` builds: its attributes, layers and their arguments, so its state_dict has the same keys and
    shapes and a checkpoint's weights load into it. The forward pass applies the attributes in order (every model
    in the registry is built that way; tests/engine/test_export.py checks the outputs are the same)."""
    model = build_model(name)
    shapes = _output_shapes(model)
    cls = type(model).__name__
    description = textwrap.fill(f'The model "{name}": {MODELS[name].description}', 104,
                                initial_indent="    ", subsequent_indent="    ")
    lines = [f"class {cls}(nn.Module):", f'    """{description.strip()}"""', "",
             "    def __init__(self):", "        super().__init__()"]
    for attr, child in model.named_children():
        if isinstance(child, nn.Sequential):
            lines.append(f"        self.{attr} = nn.Sequential(")
            lines += ["            {},{}".format(*_layer_line(layer, shapes)) for layer in child]
            lines.append("        )")
        else:
            lines.append(f"        self.{attr} = " + "{}{}".format(*_layer_line(child, shapes)))
    names = [attr for attr, _ in model.named_children()]
    lines += ["", "    def forward(self, x):"]
    lines += [f"        x = self.{attr}(x)" for attr in names[:-1]]
    lines += [f"        logits = self.{names[-1]}(x)", "        return logits"]
    code = "\n".join(lines) + "\n"
    if any(isinstance(m, Standardize) for m in model.modules()):
        code = STANDARDIZE.substitute(mean=repr(MEAN), std=repr(STD)) + "\n\n" + code
    return code, cls


STANDARDIZE = Template('''\
class Standardize(nn.Module):
    """Shift and scale pixels in [0, 1] to MNIST's mean 0 and std 1 (no weights: nothing in the state_dict)."""

    def forward(self, x):
        return (x - $mean) / $std
''')
