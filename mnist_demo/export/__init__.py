"""Take a run home: a training run's TrainConfig as a stand-alone PyTorch script (torch and torchvision only) and
as a Jupyter notebook of the same code, each cell under one line of explanation in the visitor's language.

`script(config)` gives the script's text, `notebook(config, lang)` the notebook (`notebook_json` its file's
text), `save(...)` writes either or both to files. The code itself comes from `export/code.py`; this module adds
the words: the run's settings in plain words (the script's docstring, the notebook's title cell) and one
explanation line per part, in English and Korean (the script's comments are the English lines). An unknown
language falls back to English.
"""

import os
import textwrap
from functools import lru_cache
from pathlib import Path

import nbformat

from mnist_demo.config import TRAIN_SIZE, TrainConfig, validate
from mnist_demo.devices import KNOWN
from mnist_demo.errors import ConfigError, DeviceError
from mnist_demo.export.code import bf16_mode, model_code, sections
from mnist_demo.models import build_model, param_count

DEFAULT_LANG = "en"
WIDTH = 116  # the script's comment lines wrap here

# One line per part of the code, by Section.key; {name} fields are filled from the run (see `_values`).
EXPLAIN = {
    "en": {
        "imports": "The libraries: PyTorch (torch) and torchvision, which reads MNIST and downloads it when missing.",
        "settings": "This run's settings. Change them here: a smaller LIMIT or EPOCHS makes a quicker run; "
                    "DATA_DIR is where MNIST is read from (or downloaded to).",
        "command_line": "The command line: --data-dir, --epochs, --limit and --device override the settings above.",
        "device": "The device the work runs on: DEVICE if this machine has it, else the fastest one present.",
        "seed": "The seed makes the run repeatable: the same initial weights, batch order and augmentation each time.",
        "data": "The datasets and loaders: MNIST's 60,000 training and 10,000 test images, in batches of "
                "{batch_size} for training.",
        "model": "The model: {cls}, the same layers as the run's ({params} parameters), so a checkpoint of the "
                 "run loads into it.",
        "augment": "Data augmentation: every training batch is randomly rotated, scaled, sheared, shifted and drawn "
                   "thicker or thinner, so that the model learns digits as people write them.",
        "optimizer": "The loss function (cross-entropy), the optimizer ({optimizer}, learning rate {lr}) and the "
                     "learning-rate schedule ({schedule}).",
        "train": "The training loop: predict, measure the loss, backpropagate, take an optimizer step; a loss line "
                 "every {log_every} batches.",
        "test": "The test loop: accuracy and average loss on the 10,000 test images, which the model never "
                "trains on.",
        "run": "Training: each epoch is one pass over the training images, then a test.",
    },
    "ko": {
        "imports": "필요한 라이브러리: PyTorch(torch)와, MNIST를 읽고 없으면 내려받는 torchvision만 씁니다.",
        "settings": "이 실행의 설정입니다. 여기서 바꿀 수 있습니다. LIMIT이나 EPOCHS를 줄이면 더 빨리 끝나고, "
                    "DATA_DIR은 MNIST를 읽을(없으면 내려받을) 폴더입니다.",
        "command_line": "명령줄: --data-dir, --epochs, --limit, --device로 위의 설정을 바꿀 수 있습니다.",
        "device": "연산을 실행할 장치: 이 컴퓨터에 DEVICE가 있으면 그것을, 없으면 가장 빠른 장치를 씁니다.",
        "seed": "시드를 고정하면 초기 가중치, 배치 순서, 데이터 증강이 매번 같아서 실행을 그대로 재현할 수 있습니다.",
        "data": "데이터셋과 데이터로더: MNIST 학습 이미지 60,000장과 테스트 이미지 10,000장을 준비하고, 학습 "
                "이미지는 배치 크기 {batch_size}장씩 꺼냅니다.",
        "model": "모델: 이 실행과 층 구성이 똑같은 {cls} 모델(파라미터 {params}개)이라서, 실행의 체크포인트를 그대로 "
                 "불러올 수 있습니다.",
        "augment": "데이터 증강: 학습 배치마다 이미지를 무작위로 회전하고, 크기와 기울기를 바꾸고, 옮기고, 획을 굵거나 "
                   "가늘게 만들어서 사람이 쓴 숫자도 잘 읽도록 배웁니다.",
        "optimizer": "손실 함수(교차 엔트로피), 옵티마이저({optimizer}, 학습률 {lr}), 학습률 스케줄({schedule})입니다.",
        "train": "학습 루프: 예측하고, 손실을 계산하고, 역전파한 뒤 옵티마이저가 한 스텝 나아갑니다. {log_every}개 "
                 "배치마다 손실을 출력합니다.",
        "test": "테스트 루프: 학습에 쓰지 않는 테스트 이미지 10,000장에서 정확도와 평균 손실을 잽니다.",
        "run": "학습: 한 에폭은 학습 이미지 전체를 한 번 도는 것이고, 에폭마다 테스트합니다.",
    },
}
LANGUAGES = tuple(EXPLAIN)

# The notebook's title cell and the settings in words.
TITLE = {"en": "MNIST training run", "ko": "MNIST 학습 실행"}
INTRO = {"en": "Exported from mnist-demo: plain PyTorch that needs only torch and torchvision. Run the cells in "
               "order; the log lines are the tutorial's.",
         "ko": "mnist-demo에서 내보낸 노트북입니다. torch와 torchvision만 있으면 되는 순수 PyTorch 코드이고, 셀을 "
               "차례로 실행하면 튜토리얼과 같은 형식의 로그가 나옵니다."}
WORDS = {
    "en": {"model": "Model: {model} ({cls}, {params} parameters)", "optimizer": "Optimizer: {optimizer}, learning "
           "rate {lr}", "momentum": ", momentum {momentum}", "weight_decay": ", weight decay {weight_decay}",
           "batch": "Batch size {batch_size}, {epochs} epoch{plural}, augmentation {augment}, {seed}",
           "seed": "seed {seed}", "no_seed": "no fixed seed", "on": "on", "off": "off",
           "schedule": "Learning-rate schedule: {schedule}", "onecycle": "one-cycle, rising over the first {warmup}% "
           "of the steps", "constant": "constant", "device": "Device: {device}; precision: {precision}",
           "fastest": "the fastest present", "native": "bf16 mixed precision where the hardware computes it "
           "natively, else float32", "always": "bf16 mixed precision", "fp32": "float32",
           "limit": "Training images: {limit}", "all": f"all {TRAIN_SIZE:,}", "first": "the first {limit}"},
    "ko": {"model": "모델: {model} ({cls}, 파라미터 {params}개)", "optimizer": "옵티마이저: {optimizer}, 학습률 {lr}",
           "momentum": ", 모멘텀 {momentum}", "weight_decay": ", 가중치 감쇠 {weight_decay}",
           "batch": "배치 크기 {batch_size}, 에폭 {epochs}, 데이터 증강 {augment}, {seed}",
           "seed": "시드 {seed}", "no_seed": "시드 고정 안 함", "on": "켬", "off": "끔",
           "schedule": "학습률 스케줄: {schedule}",
           "onecycle": "one-cycle (처음 {warmup}% 스텝 동안 올라갔다가 내려감)", "constant": "고정",
           "device": "장치: {device}, 정밀도: {precision}", "fastest": "가장 빠른 장치",
           "native": "하드웨어가 bf16을 직접 계산하면 bf16 혼합 정밀도, 아니면 float32", "always": "bf16 혼합 정밀도",
           "fp32": "float32", "limit": "학습 이미지: {limit}", "all": f"{TRAIN_SIZE:,}장 전부",
           "first": "처음 {limit}장"},
}


def language(lang: str | None) -> str:
    """A supported language for `lang` ("ko", "ko-KR", "KO_kr" -> "ko"); English for anything else."""
    base = str(lang or "").strip().lower().replace("_", "-").split("-")[0]
    return base if base in EXPLAIN else DEFAULT_LANG


def check(config: TrainConfig) -> TrainConfig:
    """The config validated as for training, and its device a known kind. The device need not exist here: the
    run is exported to be run elsewhere (the exported code falls back to the fastest device present)."""
    config = validate(config, max_epochs=max(config.epochs, 1))
    if config.device is not None and str(config.device).split(":")[0] not in KNOWN:
        raise DeviceError(f"device: unknown device {config.device!r}; choose one of {', '.join(KNOWN)}",
                          code="device_unknown", device=repr(config.device), options=", ".join(KNOWN))
    return config


@lru_cache(maxsize=None)
def _parameters(name: str) -> int:
    return param_count(build_model(name))


def _values(config: TrainConfig) -> dict:
    """The run's figures as its words show them."""
    _, cls = model_code(config.model)
    return {"model": config.model, "cls": cls, "params": f"{_parameters(config.model):,}",
            "optimizer": "SGD" if config.optimizer == "sgd" else "Adam", "lr": f"{config.lr:g}",
            "momentum": f"{config.momentum:g}", "weight_decay": f"{config.weight_decay:g}",
            "batch_size": config.batch_size, "epochs": config.epochs, "warmup": f"{100 * config.warmup:g}",
            "log_every": config.log_every, "seed": config.seed, "limit": config.limit, "schedule": config.schedule}


def summary(config: TrainConfig, lang: str = DEFAULT_LANG) -> list[str]:
    """The run's settings in words, one line per group, in `lang`."""
    words, values = WORDS[language(lang)], _values(config)
    values["schedule"] = words[config.schedule].format(**values)
    optimizer = words["optimizer"].format(**values)
    optimizer += words["momentum"].format(**values) if config.optimizer == "sgd" and config.momentum else ""
    optimizer += words["weight_decay"].format(**values) if config.weight_decay else ""
    seed = words["seed" if config.seed is not None else "no_seed"].format(**values)
    precision = {"off": "fp32"}.get(bf16_mode(config), bf16_mode(config))
    return [words["model"].format(**values), optimizer, words["schedule"].format(**values),
            words["batch"].format(**values | {"augment": words["on" if config.augment else "off"], "seed": seed,
                                              "plural": "s" if config.epochs != 1 else ""}),
            words["device"].format(device=config.device or words["fastest"], precision=words[precision]),
            words["limit"].format(limit=words["first" if config.limit else "all"].format(**values))]


def explanation(key: str, config: TrainConfig, lang: str = DEFAULT_LANG) -> str:
    """The one line that explains the part `key` of this run's code, in `lang`."""
    values = _values(config) | {"schedule": "one-cycle" if config.schedule == "onecycle"
                                else WORDS[language(lang)]["constant"]}
    return EXPLAIN[language(lang)][key].format(**values)


def script(config: TrainConfig, filename: str = "run.py") -> str:
    """The run as one Python script that needs only torch and torchvision: a docstring with the settings in words
    and how to run it (as `filename`), then each part of the code under its explanation as a comment."""
    config = check(config)
    settings = "\n".join(summary(config))
    usage = (f"    python {filename}                          # MNIST in ./data (downloaded there when missing)\n"
             f"    python {filename} --data-dir ~/mnist       # MNIST/raw/ under another folder\n"
             f"    python {filename} --epochs 1 --limit 6000  # shorter: 1 epoch on the first 6000 training images")
    doc = (f'"""{TITLE["en"]}, exported from mnist-demo: plain PyTorch that needs only torch and torchvision.\n\n'
           f"{settings}\n\n{usage}\n\"\"\"\n")
    parts = [doc]
    for section in sections(config):
        comment = textwrap.fill(explanation(section.key, config), WIDTH - 2, initial_indent="# ",
                                subsequent_indent="# ")
        parts.append(f"{comment}\n{section.code}")
    return "\n\n".join(parts)


def notebook(config: TrainConfig, lang: str = DEFAULT_LANG) -> nbformat.NotebookNode:
    """The run as a Jupyter notebook (nbformat 4) in `lang`: a title cell with the settings in words, then each
    part of the script's code (all but its command line) in a code cell under a one-line explanation."""
    config, lang = check(config), language(lang)
    title = f"# {TITLE[lang]}\n\n{INTRO[lang]}\n\n" + "\n".join(f"- {line}" for line in summary(config, lang))
    # cell ids from the parts' names, not random ones: the same run exports the same file
    cells = [nbformat.v4.new_markdown_cell(title, id="title")]
    for section in sections(config):
        code = section.in_notebook()
        if code is not None:
            text = explanation(section.key, config, lang)
            cells.append(nbformat.v4.new_markdown_cell(text, id=f"{section.key}-text"))
            cells.append(nbformat.v4.new_code_cell(code.strip("\n"), id=f"{section.key}-code"))
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"}}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


def notebook_json(config: TrainConfig, lang: str = DEFAULT_LANG) -> str:
    """The notebook's file (.ipynb) text."""
    return nbformat.writes(notebook(config, lang))


def target(field: str, name, force: bool = False) -> Path:
    """The path to write the file `name` to, or ConfigError naming `field` (the CLI's flag) when it cannot be written
    or exists and `force` is not given (an exported file may have been edited since: never replaced unasked)."""
    path = Path(name)
    if path.is_dir():
        raise ConfigError(field, f"{name} is a folder; give a file name")
    if not path.parent.is_dir():
        raise ConfigError(field, f"the folder {path.parent} does not exist")
    if path.exists() and not force:
        raise ConfigError(field, f"{name} exists; choose another name or pass --force to replace it")
    return path


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file beside it, then a rename)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def save(config: TrainConfig, script_path=None, notebook_path=None, lang: str = DEFAULT_LANG,
         force: bool = False) -> list[Path]:
    """Write the script to `script_path` and/or the notebook (in `lang`) to `notebook_path`; return the paths
    written. Every check (the config, both paths) passes before anything is written."""
    config = check(config)
    out = target("out", script_path, force) if script_path else None
    book = target("notebook", notebook_path, force) if notebook_path else None
    if out is not None and book is not None and out.resolve() == book.resolve():
        raise ConfigError("notebook", "is the same file as the script; give the notebook its own name")
    texts = [(out, script(config, filename=out.name)) if out else None,
             (book, notebook_json(config, lang)) if book else None]
    for path, text in filter(None, texts):
        write_text(path, text)
    return [path for path, _ in filter(None, texts)]
