"""The explanations and error messages in Korean: engine errors carry a code and values, `error_text(err, lang)`
says them in the visitor's language, and English stays the engine's own message, word for word."""

import io
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_demo import checkpoints, config, devices, images
from mnist_demo.app.core.messages import error_text, field_label, refused
from mnist_demo.app.core.models.checkpoint_folder import Library
from mnist_demo.app.server import i18n
from mnist_demo.collection import Collection, check_label
from mnist_demo.errors import CheckpointError, ConfigError, DataError, DemoError, DeviceError, ImageError
from mnist_demo.finetune import FineTuneError
from mnist_demo.models import build_model
from mnist_demo.texts import TEXTS, tr

HANGUL = re.compile("[\uac00-\ud7a3]")
ROOT = Path(__file__).resolve().parents[2]


def raised(call, *args, **kwargs) -> BaseException:
    with pytest.raises(Exception) as info:
        call(*args, **kwargs)
    return info.value


def korean(err) -> str:
    text = error_text(err, "ko")
    assert HANGUL.search(text), text
    return text


# --------------------------------------------------------------------------- the texts themselves

def test_every_error_code_the_code_raises_has_a_text_in_both_languages():
    sources = [*ROOT.joinpath("mnist_demo").rglob("*.py")]
    codes = {code for path in sources for code in re.findall(r'code="([a-z_]+)"', path.read_text(encoding="utf-8"))}
    codes |= {"exists_outside", "exists_other"}  # chosen by a conditional expression in core/models/checkpoint_folder.py
    assert len(codes) > 40
    for code in codes:
        for lang in ("en", "ko"):
            assert f"error.{code}" in TEXTS[lang], (lang, code)


def test_the_explanations_and_error_kinds_are_written_in_korean():
    en, ko = TEXTS["en"], TEXTS["ko"]
    for key in en:
        if key.startswith(("teach.", "error.kind_")):
            assert HANGUL.search(ko[key]) and ko[key] != en[key], key


def test_explanations_are_browser_translated_and_english_is_unchanged():
    names = ["loss", "epoch_batch", "learning_rate", "fast_preset", "final_relu", "preprocessing", "cpu_vs_cuda",
             "sharing", "compare_runs", "finetune", "confusion", "saliency", "first_layer"]
    for name in names:
        value = i18n.t(f"teach.{name}")
        assert isinstance(value, i18n.I18nData) and value.key == f"teach.{name}"
    loss, epoch_batch, confusion, finetune = (i18n.t(f"teach.{n}") for n in ("loss", "epoch_batch", "confusion",
                                                                              "finetune"))
    assert i18n.resolve(loss).startswith("**The loss** is one number saying how wrong the model is on a batch.")
    assert i18n.resolve(loss, "ko").startswith("**손실**은")
    assert "`-log(0.1) = 2.30`" in i18n.resolve(loss, "ko")  # the same figures in both
    assert "60000 / 64 = 938" in i18n.resolve(epoch_batch, "ko")
    assert "교차 엔트로피" in i18n.resolve(loss, "ko") and "혼동 행렬" in i18n.resolve(confusion, "ko")
    assert i18n.resolve(finetune).count("\n\n") == 2 == i18n.resolve(finetune, "ko").count("\n\n")


def test_field_names():
    assert field_label("lr") == "Learning rate" and field_label("lr", "ko") == "학습률"
    assert field_label("batch_size", "ko") == "배치 크기"
    assert field_label("steps") is None and field_label("steps", "ko") == "스텝 수"  # English keeps the code name
    assert field_label("nonsense", "ko") is None


# --------------------------------------------------------------------------- English: the engine's words

@pytest.mark.parametrize("err, text", [
    (ConfigError("lr", "0 is out of range; must be x"), "Learning rate (lr): 0 is out of range; must be x"),
    (ConfigError("steps", "is empty"), "steps: is empty"),
    (CheckpointError("checkpoint 'x' does not exist", code="not_found", name="'x'"), "checkpoint 'x' does not exist"),
    (DataError("MNIST not found"), "MNIST not found. How to fix: put the four MNIST files (train-images-idx3-ubyte, "
     "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz) in DATA_DIR/MNIST/raw "
     "and restart, or start the app with --data-dir pointing at a good copy. Drawing still works with the shipped "
     "model."),
    (RuntimeError("boom"), "Unexpected error (RuntimeError: boom). Nothing was changed."),
    (FineTuneError("no drawings"), "no drawings"),
])
def test_english_is_the_engines_message(err, text):
    assert error_text(err) == text == error_text(err, "en")


def _english_from_code(err: DemoError) -> str:
    """The English [error] text filled with the error's values, as the engine's own message should read."""
    values = {k: ("the uploaded data" if v is None else str(v)) for k, v in err.values.items()}
    if isinstance(err, ConfigError):
        values.setdefault("field", err.field)
    return tr("en", f"error.{err.code}", **values)


def _samples(tmp_path) -> list[DemoError]:
    """One of each coded error a visitor commonly meets, raised by the engine itself."""
    found = [
        raised(config.make_config, lr=0), raised(config.make_config, lr="abc"), raised(config.make_config, epochs=99),
        raised(config.make_config, batch_size=2.5), raised(config.make_config, momentum=float("inf")),
        raised(config.make_config, model="resnet"), raised(config.make_config, preset="slow"),
        raised(config.make_config, colour=1), raised(config.make_config, augment="yes"),
        raised(checkpoints.clean_name, " "), raised(checkpoints.clean_name, "../x"),
        raised(checkpoints.clean_name, "cuda"),
        raised(checkpoints.clean_name, "NUL"), raised(checkpoints.clean_name, "DEFAULT"),
        raised(devices.resolve_device, "tpu"),
        raised(checkpoints.load_checkpoint, "nothing", tmp_path),
        raised(images.as_array, b"not an image"), raised(images.as_array, np.zeros((0, 5), np.uint8)),
        raised(check_label, "x"),
    ]
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint")
    foreign = tmp_path / "foreign.pt"
    torch.save({"some": "dict"}, foreign)
    found += [raised(checkpoints.load_file, garbage), raised(checkpoints.load_file, foreign)]
    return found


def test_coded_errors_keep_their_english_message_and_carry_what_it_says(tmp_path):
    for err in _samples(tmp_path):
        assert isinstance(err, DemoError) and err.code, err
        field = err.field if isinstance(err, ConfigError) else "device" if isinstance(err, DeviceError) else None
        detail = str(err).removeprefix(f"{field}: ")
        if err.code not in ("name_empty",):  # its English lists the name rule after the value
            assert _english_from_code(err) == detail, err.code


def test_config_error_keeps_its_code_through_pickle():
    err = raised(config.make_config, lr=0)
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.field, again.code, again.values) == (str(err), err.field, err.code, err.values)


# --------------------------------------------------------------------------- Korean

def test_korean_settings_errors_name_the_field_in_korean_and_its_code_name():
    assert korean(raised(config.make_config, lr=0)) == "학습률 (lr): 범위를 벗어났습니다(0). 0보다 크고 10 이하인 수를 입력하세요."
    assert korean(raised(config.make_config, lr="abc")) == ("학습률 (lr): 숫자가 아닙니다('abc'). "
                                                            "0보다 크고 10 이하인 수를 입력하세요.")
    assert korean(raised(config.make_config, epochs=99)) == "에폭 (epochs): 범위를 벗어났습니다(99). 1 이상 50 이하인 정수를 입력하세요."
    assert korean(raised(config.make_config, batch_size=2.5)).startswith("배치 크기 (batch_size): 정수가 아닙니다(2.5).")
    assert korean(raised(config.make_config, momentum=float("inf"))).startswith("모멘텀 (momentum): 유한한 수가 아닙니다(inf).")
    assert "0 이상 0.999 이하인 수" in korean(raised(config.make_config, momentum=2))
    assert korean(raised(config.make_config, model="resnet")).startswith("모델 (model): 알 수 없는 모델입니다('resnet'). "
                                                                        "다음 중 하나를 고르세요: tutorial, mlp")
    assert korean(raised(config.make_config, colour=1)) == "colour: 학습 옵션이 아닙니다."
    assert korean(raised(config.make_config, augment="yes")) == "데이터 증강 (augment): true 또는 false여야 합니다."
    assert korean(ConfigError("steps", "is empty", code="empty")) == "스텝 수 (steps): 비어 있습니다. 값을 입력하세요."
    # a caller's own wording with no code: the field in Korean, then the English detail
    assert korean(ConfigError("batch_sizes", "4096 is more than this app allows")) == \
        "배치 크기 목록 (batch_sizes): 값이 올바르지 않습니다 - 4096 is more than this app allows"


def test_korean_devices_names_images_and_checkpoint_files(tmp_path):
    assert korean(raised(devices.resolve_device, "tpu")) == ("장치 (device): 알 수 없는 장치입니다('tpu'). "
                                                             "다음 중 하나를 고르세요: cpu, cuda, mps")
    unavailable = DeviceError("device: mps is not available on this machine (available: cpu)",
                              code="device_unavailable", device="mps", available="cpu")
    assert korean(unavailable) == "장치 (device): 이 컴퓨터에는 mps 장치가 없습니다(사용 가능: cpu)."
    assert korean(raised(checkpoints.clean_name, " ")).startswith("체크포인트 이름이 비어 있습니다(' ').")
    assert korean(raised(checkpoints.clean_name, "../x")).startswith("쓸 수 없는 체크포인트 이름입니다('../x').")
    assert "장치 이름('cuda')" in korean(raised(checkpoints.clean_name, "CUDA"))
    assert "Windows" in korean(raised(checkpoints.clean_name, "nul"))
    assert "('default')" in korean(raised(checkpoints.clean_name, "Default"))
    assert korean(raised(checkpoints.load_checkpoint, "nothing", tmp_path)) == "체크포인트가 없습니다(nothing.pt)."
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint")
    assert korean(raised(checkpoints.load_file, garbage)).startswith("garbage.pt: 읽을 수 있는 체크포인트가 아닙니다")
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "other"}, foreign)
    assert korean(raised(checkpoints.load_file, foreign)) == "foreign.pt: PyTorch 파일이지만 mnist-demo 체크포인트가 아닙니다."
    bad = tmp_path / "nan.pt"
    torch.save({"format": checkpoints.FORMAT, "model": "mlp",
                "state_dict": {k: torch.full_like(v, float("nan")) for k, v in build_model("mlp").state_dict().items()},
                "meta": {}}, bad)
    assert korean(raised(checkpoints.load_file, bad)) == "nan.pt: 가중치에 NaN 또는 무한대 값이 들어 있습니다."
    assert korean(raised(images.as_array, b"not an image")).startswith("업로드한 데이터: 이미지 파일이 아니거나")
    huge = io.BytesIO()
    Image.new("L", (5000, 4000)).save(huge, format="PNG")
    text = korean(raised(images.as_array, huge.getvalue()))
    assert text == "이미지가 너무 큽니다(5000x4000, 20.0메가픽셀). 한도는 16.8메가픽셀입니다.", text


def test_korean_library_quotas_and_uploads(tmp_path):
    net = build_model("mlp")
    meta = {"model": "mlp", "config": {"model": "mlp"}}
    one = Library(tmp_path / "one", max_per_owner=1)
    one.save(net, meta, "mine", "me")
    assert korean(raised(one.save, net, meta, "second", "me")).startswith("저장한 체크포인트가 이미 1개로")
    assert "다른 방문자가 저장" in korean(raised(one.save, net, meta, "mine", "someone else"))
    assert korean(raised(one.save, net, meta, "default", "me")) == ("'default': 기본 제공 모델이라 여기서 덮어쓸 수 "
                                                                   "없습니다. 다른 이름을 고르세요.")
    assert korean(raised(one.delete, "mine", "someone else")).startswith("'mine': 내가 저장한 체크포인트가 아닙니다.")
    assert korean(raised(one.delete, "gone", "me")) == "체크포인트가 없습니다('gone')."
    small = Library(tmp_path / "small", max_bytes_per_owner=1000)
    text = korean(raised(small.save, net, meta, "big", "me"))
    assert text.startswith("저장하면 내 체크포인트가 모두 ") and "1000 B를 넘습니다" in text
    full = Library(tmp_path / "full", max_total_bytes=1000)
    assert "체크포인트 폴더가 가득 찼습니다(1000 B 중 0 B 사용)" in korean(raised(full.save, net, meta, "big", "me"))
    assert korean(raised(one.load_upload, None)) == "업로드된 파일이 없습니다."
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert korean(raised(one.load_upload, notes)).startswith("notes.txt: .pt 파일이 아닙니다.")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert korean(raised(one.load_upload, empty)) == "empty.pt: 빈 파일입니다."
    tiny = Library(tmp_path / "tiny", max_upload_bytes=10)
    big = tmp_path / "big.pt"
    big.write_bytes(b"x" * 2048)
    assert korean(raised(tiny.load_upload, big)) == "big.pt: 파일이 너무 큽니다(2 KB; 한도 10 B)."


def test_korean_collection_and_the_rest(tmp_path):
    assert korean(raised(check_label, "x")) == "숫자 라벨이 아닙니다('x'). 0-9 중 하나여야 합니다."
    drawings = Collection(limit=1)
    drawings.add(np.zeros((28, 28), np.uint8), 3)
    assert korean(raised(drawings.add, np.zeros((28, 28), np.uint8), 4)).startswith("모은 그림이 가득 찼습니다(방문자당 최대 1장)")
    # without a code: a Korean lead-in, then the English detail
    assert korean(FineTuneError("no drawings to fine-tune on")) == "미세 조정 문제: no drawings to fine-tune on"
    assert korean(CheckpointError("something new")) == "체크포인트 문제: something new"
    assert korean(ImageError("odd")) == "이미지 문제: odd"
    assert korean(DemoError("plain")) == "문제가 생겼습니다: plain"
    assert korean(DataError("MNIST not found: put the files in data")).startswith(
        "MNIST 데이터를 읽을 수 없습니다(MNIST not found: put the files in data). 해결 방법:")
    assert korean(RuntimeError("boom")) == "예기치 않은 오류가 발생했습니다(RuntimeError: boom). 아무것도 바뀌지 않았습니다."
    # a save that failed inside the engine, wrapped by the library: both parts in Korean
    inner = CheckpointError("could not save checkpoint a.pt: No space", code="save_failed", file="a.pt",
                            reason="No space")
    wrapped = CheckpointError(f"{inner}; the earlier file, if any, is intact", code="kept_intact", cause=inner)
    assert error_text(wrapped) == "could not save checkpoint a.pt: No space; the earlier file, if any, is intact"
    assert korean(wrapped) == "체크포인트를 저장하지 못했습니다(a.pt): No space 이전 파일이 있었다면 그대로 남아 있습니다."
    assert refused(error_text(raised(config.make_config, lr=0), "ko"), "ko").startswith("**하지 않았습니다.** 학습률 (lr):")


def test_a_text_missing_a_value_falls_back_to_english():
    err = CheckpointError("checkpoint 'x' does not exist", code="not_found")  # no `name` value
    assert error_text(err, "ko") == "체크포인트 문제: checkpoint 'x' does not exist"


def test_a_diverged_training_with_its_code_is_said_in_korean():
    from mnist_demo.train import TrainingDiverged

    message = ("training diverged at step 7: the loss became NaN or infinite. "
               "The learning rate (5) is probably too high: try 10x lower.")
    err = TrainingDiverged(message, code="diverged", step=7, lr="5")
    assert error_text(err) == message == _english_from_code(err)
    assert korean(err) == "7번째 스텝에서 손실이 NaN 또는 무한대가 되었습니다. 학습률(5)이 너무 높은 것 같습니다: 10배 낮춰 보세요."
    assert korean(TrainingDiverged(message)) == f"학습이 발산했습니다: {message}"  # as train.py raises it today


def test_korean_collection_uploads(tmp_path):
    from mnist_demo.collection import read_upload

    images, labels = tmp_path / "my-images-idx3-ubyte", tmp_path / "my-labels-idx1-ubyte"
    images.write_bytes(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(2 * 784))
    labels.write_bytes(b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + bytes([3, 12]))
    assert korean(raised(read_upload, [images, labels])) == "my-labels-idx1-ubyte: 라벨 12이(가) 0-9 범위를 벗어납니다."
    labels.write_bytes(b"hello, not IDX")
    assert korean(raised(read_upload, [images, labels])) == ("my-labels-idx1-ubyte: MNIST IDX 파일(이미지 또는 라벨)이 "
                                                             "아닙니다.")
    labels.write_bytes(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + bytes([3, 4, 5]))
    assert korean(raised(read_upload, [images, labels])) == "두 파일이 맞지 않습니다: 이미지 2장, 라벨 3개."
    assert korean(raised(read_upload, [images])).startswith("파일 두 개를 올리세요")


def test_an_unusable_checkpoint_in_the_listing_says_why_in_korean(tmp_path):
    (tmp_path / "broken.pt").write_bytes(b"\x00not a checkpoint")
    (row,) = Library(tmp_path).rows("me")
    assert row.status == "unusable: " + str(row.problem)  # the English cell is the engine's message, as before
    assert korean(row.problem).startswith("broken.pt: 읽을 수 있는 체크포인트가 아닙니다")


@pytest.mark.parametrize("images, labels, number", [
    (np.zeros((0, 28, 28), np.uint8), [], None),
    (np.full((3, 28, 28), 255, np.uint8), [3, 3, 3], "3"),
    (np.full((2, 28, 28), 255, np.uint8), [1, 2, 3], "3"),
    (np.full((2, 28, 28), 255, np.uint8), [1, 12], "12"),
    (np.concatenate([np.full((1, 28, 28), 255, np.uint8), np.zeros((1, 28, 28), np.uint8)]), [1, 2], "2"),
])
def test_the_fine_tunes_refusals_in_korean(images, labels, number):
    """What a visitor meets pressing "Fine-tune" too early (no drawings, one digit only, a blank one ...)."""
    from mnist_demo.finetune import check_drawings

    with pytest.raises(FineTuneError) as caught:
        check_drawings(images, labels)
    err = caught.value
    assert err.code and _english_from_code(err) == str(err) == error_text(err)
    korean = error_text(err, "ko")
    assert HANGUL.search(korean) and "미세 조정 문제" not in korean  # its own words, not the lead-in
    if number:
        assert number in korean
