"""The code of an exported run, section by section: what `export.script` joins into a script and `export.notebook`
puts in cells.

Each section is plain PyTorch laid out like the tutorial (settings, datasets and loaders, the model class, the
train and test loops, the epoch loop) and holds only what this run uses: no scheduler code for a constant learning
rate, no augmentation code without augmentation. Where the code must behave as the engine's does, it is made from
the engine itself: the model class from the registry's built module (`export/model_class.py`), the augmentation from
`augment.py`'s own source, the constants from their modules. The rest mirrors `train.py` line for line: pixels
scaled to [0, 1], the model's own standardisation, the same optimizer arguments and one-cycle schedule, the first
`limit` training images, the batch order and augmentation drawn from a generator seeded with the run's seed.
"""

import inspect
import json
from dataclasses import dataclass
from functools import lru_cache
from string import Template

from torch import nn

import mnist_demo.augment as augment_module
from mnist_demo.config import TrainConfig
from mnist_demo.data import FILES
from mnist_demo.export.model_class import model_code
from mnist_demo.models import build_model
from mnist_demo.train import EVAL_BATCH

AUGMENT_CONSTANTS = {  # augment.py's constants, with what each means
    "MAX_ROTATION_DEG": "rotation, degrees either way",
    "SCALE_RANGE": "size, smallest and largest factor",
    "MAX_SHIFT_PX": "shift, pixels either way",
    "MAX_SHEAR": "slant, either way",
    "STROKE_CHANGE_P": "the share of images drawn thicker, and again thinner",
}
AUGMENT_FUNCTIONS = ("_uniform", "random_affine", "random_stroke", "augment")


@dataclass(frozen=True)
class Section:
    """One part of the code. `key` names its explanation line in the notebook; `script_only` parts (the command
    line) stay out of the notebook."""

    key: str
    code: str
    script_only: bool = False
    notebook_code: str | None = None  # where the notebook's cell differs from the script's part

    def in_notebook(self) -> str | None:
        return None if self.script_only else self.notebook_code or self.code


@lru_cache(maxsize=None)
def convolutional(name: str) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in build_model(name).modules())


def bf16_mode(config: TrainConfig) -> str:
    """How the forward pass runs, as `train.autocast_dtype` decides it: "off" (fp32), "always" (bf16 chosen), or
    "native" ("auto" on a convolutional model: bf16 where the hardware computes it natively, decided where the
    script runs)."""
    if config.precision == "bf16":
        return "always"
    if config.precision == "auto" and convolutional(config.model):
        return "native"
    return "off"


# ----------------------------------------------------------------------------- the sections

def _literal(value) -> str:
    """A setting's value as Python code, strings in double quotes as the rest of the code writes them."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _names(names) -> str:
    """A tuple of strings as code, one per line."""
    return "(\n" + "".join(f"    {_literal(name)},\n" for name in names) + ")"


def imports(config: TrainConfig, script: bool = True) -> str:
    """The imports the code uses (a notebook has no command line, so no argparse)."""
    lines = ["import argparse"] if script else []
    lines += ["import gzip"] + (["import math"] if config.augment else []) + ["import os", "import shutil", ""]
    lines += ["import torch"]
    lines += ["import torch.nn.functional as F"] if config.augment else []
    lines += ["from torch import nn", "from torch.utils.data import DataLoader, RandomSampler, TensorDataset",
              "from torchvision import datasets"]
    return "\n".join(lines) + "\n"


def settings(config: TrainConfig) -> str:
    """The run's settings as plain constants, each with what it means; only those the code uses."""
    rows = [("LEARNING_RATE", config.lr, "the peak learning rate" if config.schedule == "onecycle"
             else "how far each optimizer step moves the weights")]
    if config.optimizer == "sgd" and config.momentum:
        rows.append(("MOMENTUM", config.momentum, "SGD momentum: the share of the last step carried into the next"))
    if config.weight_decay:
        rows.append(("WEIGHT_DECAY", config.weight_decay, "L2 weight decay: pulls every weight a little towards 0"))
    rows += [("BATCH_SIZE", config.batch_size, "images per optimizer step"),
             ("EPOCHS", config.epochs, "passes over the training images")]
    if config.schedule == "onecycle":
        rows.append(("WARMUP", config.warmup, "the share of steps over which the learning rate rises to its peak"))
    rows += [("SEED", config.seed, "the same seed gives the same run; None: a different one each time"),
             ("DEVICE", config.device, '"cuda", "mps" or "cpu"; None: the fastest present'),
             ("LIMIT", config.limit, "train on the first LIMIT training images only; None: all 60000"),
             ("LOG_EVERY", config.log_every, 'batches between "loss:" lines'),
             ("DATA_DIR", "data", "MNIST's files are in DATA_DIR/MNIST/raw/ (downloaded there when missing)")]
    return "\n".join(f"{name} = {_literal(value)}  # {meaning}" for name, value, meaning in rows) + "\n"


COMMAND_LINE = '''\
parser = argparse.ArgumentParser(description="Train this MNIST run with PyTorch.")
parser.add_argument("--data-dir", default=DATA_DIR, help="folder holding MNIST/raw/ (default: %(default)s)")
parser.add_argument("--epochs", type=int, default=EPOCHS, help="passes over the training set (default: %(default)s)")
parser.add_argument("--limit", type=int, default=LIMIT, help="train on the first N training images only")
parser.add_argument("--device", default=DEVICE, help="cuda, mps or cpu (default: the fastest present)")
args = parser.parse_args()
DATA_DIR, EPOCHS, LIMIT, DEVICE = args.data_dir, args.epochs, args.limit, args.device
'''

DEVICE = '''\
def pick_device(name):
    """`name` if this machine has it, else the fastest device present: cuda, then mps, then cpu."""
    present = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    if name and present.get(name.split(":")[0]):
        return torch.device(name)
    if name:
        print(f"{name} is not available here; using the fastest device present")
    return torch.device(next(kind for kind, there in present.items() if there))


device = pick_device(DEVICE)
print(f"Using {device} device")
'''

BF16_NATIVE = '''
# bf16 mixed precision (forward pass in bfloat16, weights kept in float32) is faster for convolutions where the
# hardware computes bfloat16 natively: GPUs from Ampere on, CPUs with AMX or AVX-512 BF16. Elsewhere it is
# emulated and slower, so this run uses it only there.
if device.type == "cuda":
    USE_BF16 = torch.cuda.is_bf16_supported()
elif device.type == "cpu":
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private torch functions, hence getattr
    USE_BF16 = any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
else:
    USE_BF16 = False
'''

BF16_ALWAYS = '''
# bf16 mixed precision: the forward pass in bfloat16 (weights kept in float32), on cpu and cuda
USE_BF16 = device.type in ("cpu", "cuda")
'''

SEED = Template('''\
seed = SEED if SEED is not None else torch.seed()
torch.manual_seed(seed)  # the model's initial weights
generator = torch.Generator().manual_seed(seed)  # each epoch's batch order$augment_too
''')

DATA = Template('''\
FILES = $files


def unpack_gz(data_dir):
    """torchvision reads the unpacked files in DATA_DIR/MNIST/raw/; unpack any .gz copies found there
    (mnist-demo ships MNIST that way) so that nothing needs downloading."""
    raw = os.path.join(data_dir, "MNIST", "raw")
    for name in FILES:
        path = os.path.join(raw, name)
        if os.path.isfile(path + ".gz") and not os.path.isfile(path):
            part = f"{path}.{os.getpid()}.part"
            with gzip.open(path + ".gz", "rb") as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(part, path)  # in one go, so that no one reads a half-written file


# The datasets: torchvision finds MNIST in DATA_DIR, or downloads it there
unpack_gz(DATA_DIR)
training_data = datasets.MNIST(root=DATA_DIR, train=True, download=True)
test_data = datasets.MNIST(root=DATA_DIR, train=False, download=True)

# torchvision keeps all images in one uint8 tensor [N, 28, 28]; as float [N, 1, 28, 28] in [0, 1], which is what
# the tutorial's ToTensor() gives, image by image. LIMIT keeps the first LIMIT training images.
train_images = training_data.data[:LIMIT].unsqueeze(1).float() / 255
train_dataset = TensorDataset(train_images, training_data.targets[:LIMIT])
test_dataset = TensorDataset(test_data.data.unsqueeze(1).float() / 255, test_data.targets)

# The loaders: batches of BATCH_SIZE training images in a new random order each epoch (drawn from `generator`),
# and the test images in order ($eval_batch at a time: testing keeps no gradients, so larger batches fit)
train_dataloader = DataLoader(train_dataset, batch_size=BATCH_SIZE,
                              sampler=RandomSampler(train_dataset, generator=generator))
test_dataloader = DataLoader(test_dataset, batch_size=$eval_batch)
''')

MODEL = Template('''
$code


model = $cls().to(device)$channels_last
print(model)
''')

CHANNELS_LAST = ("\n# channels_last memory layout: faster convolutions on CPUs and GPUs; the weights are the same"
                 "\nmodel = model.to(memory_format=torch.channels_last)")


def augmentation() -> str:
    """The engine's augmentation: augment.py's constants and functions, copied from its own source."""
    constants = "\n".join(f"{name} = {getattr(augment_module, name)!r}  # {meaning}"
                           for name, meaning in AUGMENT_CONSTANTS.items())
    functions = "\n\n\n".join(inspect.getsource(getattr(augment_module, name)).rstrip()
                              for name in AUGMENT_FUNCTIONS)
    return f"{constants}\n\n\n{functions}\n"


def optimizer(config: TrainConfig) -> str:
    extra = ", momentum=MOMENTUM" if config.optimizer == "sgd" and config.momentum else ""
    extra += ", weight_decay=WEIGHT_DECAY" if config.weight_decay else ""
    cls = "SGD" if config.optimizer == "sgd" else "Adam"
    lines = ["loss_fn = nn.CrossEntropyLoss()", f"optimizer = torch.optim.{cls}(model.parameters(), "
             f"lr=LEARNING_RATE{extra})"]
    if config.schedule == "onecycle":
        cycle = config.optimizer == "sgd" and config.momentum > 0
        lines += ["",
                  "# One-cycle schedule: the learning rate rises from LEARNING_RATE / 25 to LEARNING_RATE over the "
                  "first WARMUP",
                  "# of the steps, then falls to nearly 0 by the last step" + (
                      " (and the momentum moves the other way, between 0.95 and 0.85)" if cycle else ""),
                  "total_steps = EPOCHS * len(train_dataloader)",
                  "scheduler = torch.optim.lr_scheduler.OneCycleLR(",
                  "    optimizer, max_lr=LEARNING_RATE, total_steps=max(total_steps, 8),  # 8: a few steps per phase",
                  f"    pct_start=WARMUP, cycle_momentum={cycle})"]
    return "\n".join(lines) + "\n"


def train_loop(config: TrainConfig) -> str:
    bf16 = bf16_mode(config) != "off"
    lines = ["def train_loop(dataloader, model, loss_fn, optimizer):",
             "    size = len(dataloader.dataset)",
             "    model.train()  # training mode: layers such as batch norm learn from each batch",
             "    for batch, (X, y) in enumerate(dataloader):",
             "        X = X.to(device)",
             "        y = y.to(device)",
             "        X = augment(X, generator)  # a new random variation of every image, every epoch"
             if config.augment else None,
             "        # Compute prediction and loss",
             "        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=USE_BF16):" if bf16 else None,
             f"        {'    ' if bf16 else ''}pred = model(X)",
             f"        {'    ' if bf16 else ''}loss = loss_fn(pred, y)",
             "",
             "        # Backpropagation",
             "        optimizer.zero_grad()",
             "        loss.backward()",
             "        optimizer.step()",
             "        scheduler.step()  # the schedule's learning rate for the next step"
             if config.schedule == "onecycle" else None,
             "",
             "        if batch % LOG_EVERY == 0:",
             "            loss, current = loss.item(), batch * BATCH_SIZE",
             '            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")']
    return "\n".join(line for line in lines if line is not None) + "\n"


TEST_LOOP = '''\
def test_loop(dataloader, model, loss_fn):
    model.eval()  # evaluation mode: layers such as batch norm use what they learned
    size = len(dataloader.dataset)
    test_loss, correct = 0, 0

    with torch.no_grad():
        for X, y in dataloader:
            X = X.to(device)
            y = y.to(device)
            pred = model(X)
            # loss_fn gives the batch's mean loss; times its size, its sum (the tutorial added up the means, so
            # its "Avg loss" came out about 64 times too small)
            test_loss += loss_fn(pred, y).item() * len(X)
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()

    test_loss /= size
    correct /= size
    print(f"Test Error: \\n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \\n")
'''

RUN = '''\
for t in range(EPOCHS):
    print(f"Epoch {t+1}\\n-------------------------------")
    train_loop(train_dataloader, model, loss_fn, optimizer)
    test_loop(test_dataloader, model, loss_fn)
print("Done!")
'''


def sections(config: TrainConfig) -> list[Section]:
    """The run's code in order; the script is all of it, the notebook all but the script-only parts."""
    code, cls = model_code(config.model)
    bf16 = {"off": "", "native": BF16_NATIVE, "always": BF16_ALWAYS}[bf16_mode(config)]
    channels_last = CHANNELS_LAST if convolutional(config.model) else ""
    parts = [Section("imports", imports(config), notebook_code=imports(config, script=False)),
             Section("settings", settings(config)),
             Section("command_line", COMMAND_LINE, script_only=True),
             Section("device", DEVICE + bf16),
             Section("seed", SEED.substitute(augment_too=" and the augmentation" if config.augment
                                                        else "")),
             Section("data", DATA.substitute(files=_names(FILES.values()), eval_batch=EVAL_BATCH)),
             Section("model", MODEL.substitute(code=code.rstrip(), cls=cls, channels_last=channels_last).lstrip())]
    if config.augment:
        parts.append(Section("augment", augmentation()))
    parts += [Section("optimizer", optimizer(config)), Section("train", train_loop(config)),
              Section("test", TEST_LOOP), Section("run", RUN)]
    return parts
