"""The Draw tab in Korean and in English: the server's texts (picker, model line, answer, the look inside, the
collection's messages and counter, the fine-tune's progress and report) follow `Visitor.language`; English is
the default and unchanged. Handlers are called directly, as the page's events call them."""

from types import SimpleNamespace

import pytest
from PIL import Image

from mnist_demo import texts
from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.jobs.reasons import STOPPED_BY_USER
from mnist_demo.app.core.jobs.runner import Cancelled, Finished, Waiting
from mnist_demo.app.core.models import current
from mnist_demo.app.core.models.current import YOURS, CurrentModel, Origin
from mnist_demo.app.core.runs import finetune as finetune_run
from mnist_demo.app.core.settings import Settings
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.page import build_app
from mnist_demo.app.server import i18n
from mnist_demo.app.tabs import draw as draw_tab
from mnist_demo.app.tabs.draw import collection
from mnist_demo.app.tabs.draw.collection import Teaching
from mnist_demo.app.tabs.draw.look_inside import InsideUI, view
from mnist_demo.finetune import MAX_STEPS
from mnist_demo.train import Progress
from tests.support.app_server import make_default_checkpoint
from tests.support.digits import draw

HANGUL = range(0xAC00, 0xD7A4)


def korean(text) -> bool:
    return any(ord(ch) in HANGUL for ch in str(text))


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    folder = tmp_path_factory.mktemp("checkpoints")
    make_default_checkpoint(folder)
    return Settings(checkpoint_dir=str(folder))


@pytest.fixture(scope="module")
def demo(settings):
    return build_app(settings)


@pytest.fixture(scope="module")
def ctx(demo) -> AppContext:
    return demo.mnist_context


def visitor(lang: str | None = None) -> Visitor:
    v = Visitor()
    if lang:
        v.language = lang
    return v


DRAW_MODULES = ("mnist_demo.app.tabs.draw", "mnist_demo.app.tabs.draw.collection", "mnist_demo.app.tabs.draw.finetune")


def handler(demo, name: str):
    """The function behind one of the Draw tab's events, by its API name or, for private ones (and what a language
    switch redraws), its own name."""
    for fn in demo.fns.values():
        if name == fn.api_name or (getattr(fn.fn, "__module__", None) in DRAW_MODULES and name == fn.fn.__name__):
            return fn.fn
    for redraw in demo.mnist_shared.redraws:
        if redraw.fn.__module__ in DRAW_MODULES and name == redraw.fn.__name__:
            return redraw.fn
    raise LookupError(name)


def values(update: dict) -> list:
    return [v for v in update.values() if isinstance(v, str)]


SEVEN = draw(7, size=(280, 280), box=(70, 40, 140, 200), width=20)
BLANK = Image.new("L", (280, 280), 255)


# --------------------------------------------------------------------------- the picker, the model line, the answer

def test_picker_and_model_line_in_korean_and_unchanged_in_english(ctx):
    ko, en = visitor("ko"), visitor()
    dropdown, line = draw_tab.refresh(ctx, ko)
    label, value = dropdown.choices[0]
    assert value == "default" and label.startswith("default (기본 제공: ") and label.endswith("%)"), label
    assert line.startswith("사용 중: **default (기본 제공)**") and "테스트 정확도 " in line, line
    dropdown, line = draw_tab.refresh(ctx, en)
    assert dropdown.choices[0][0].startswith("default (shipped default: ")
    assert line.startswith("Using **default (shipped)**: ") and "% test accuracy, " in line, line


def test_your_current_model_is_named_in_the_visitors_language(ctx):
    predictor = ctx.library.predictor("default")
    for lang, expected in [("ko", "내 현재 모델 ("), ("en", "Your current model (")]:
        v = visitor(lang)
        v.current = CurrentModel(predictor.model, predictor, {"model": "cnn", "accuracy": 0.9876}, Origin("run", 2), "r")
        label = current.choices(ctx, v, v.language)[0][0]
        assert label.startswith(expected) and "98.8" in label, label
        assert ("실행 2" if lang == "ko" else "run 2") in label
    assert Origin(current.FINETUNED_STOPPED).text("ko") == "미세 조정, 일찍 중지"
    assert Origin(current.CHECKPOINT, "best").text("ko") == "체크포인트 best"
    assert Origin(current.FINETUNED_STOPPED).text() == "fine-tuned, stopped early"  # API clients read English
    for code in (current.TRAINED, current.STOPPED, current.FINETUNED, current.FINETUNED_STOPPED, current.RUN,
                 current.CHECKPOINT, current.UPLOAD):  # every origin a model can have is said in both languages
        assert Origin(code, 1).text("ko") != Origin(code, 1).text("en")


def test_the_answer_and_its_messages_follow_the_language(ctx):
    ko = visitor("ko")
    probabilities, preview, message = draw_tab.predict(ctx, ko, SEVEN)
    assert max(probabilities, key=probabilities.get) == "7" and preview is not None
    assert message == "모델: default (기본 제공)"
    assert draw_tab.predict(ctx, ko, BLANK) == ("숫자를 그려 보세요", None, "")
    assert draw_tab.predict(ctx, visitor(), SEVEN)[2] == "Model: default (shipped)"
    assert draw_tab.predict(ctx, visitor(), BLANK) == ("Draw a digit", None, "")
    ko.draw_choice = YOURS  # no model of one's own yet
    label, _, message = draw_tab.predict(ctx, ko, SEVEN)
    assert label == "아직 모델이 없습니다" and message.startswith("**하지 않았습니다.** 아직 내 모델이 없습니다"), message


def test_the_look_inside_speaks_korean(ctx):
    ui = InsideUI("summary", "saliency", "features")
    shown = view(ctx, ui, visitor("ko"), SEVEN)
    assert ": **7**(으)로 읽었습니다 (" in shown["summary"] and " ms)" in shown["summary"], shown["summary"]
    captions = [caption for _, caption in shown["features"]]
    assert captions and all(c.startswith(("맵 ", "유닛 ")) and c.split()[1].isdigit() for c in captions), captions
    assert view(ctx, ui, visitor("ko"), BLANK)["summary"].startswith("숫자를 그리면")
    english = view(ctx, ui, visitor(), SEVEN)
    assert english["summary"].startswith("**default (shipped)** reads **7** (")
    assert all(c.startswith(("map ", "unit ")) for _, c in english["features"])


# --------------------------------------------------------------------------- the collection

def test_the_counter_starts_as_the_page_declares_it_in_each_language():
    for lang in ("en", "ko"):
        assert collection.counter_text([0] * 10, lang) == texts.tr(lang, "collection.counter_empty")
    assert collection.counter_text([1, 0, 0, 2, 0, 0, 0, 0, 0, 0]).startswith("Kept so far:\n\n| 0 | 1 |")
    assert collection.counter_text([1, 0, 0, 2, 0, 0, 0, 0, 0, 0], "ko").endswith("| **3** |")


def test_keep_select_remove_and_download_in_korean(demo):
    ko, teaching = visitor("ko"), Teaching()
    collect, pick, remove = handler(demo, "collect"), handler(demo, "pick"), handler(demo, "remove_drawing")
    said = values(collect("3", BLANK, teaching, ko))  # the message, then the counts (unchanged)
    assert said[0] == "**하지 않았습니다.** 패드가 비어 있습니다. 숫자를 그린 다음 그 숫자를 누르세요.", said
    said = values(collect("7", SEVEN, teaching, ko))
    assert "**7**(으)로 모았습니다. 다음 숫자를 그리세요." in said
    assert any(text.startswith("지금까지 모은 그림:") and "| 전체 |" in text and "| **1** |" in text for text in said)
    assert values(remove(-1, teaching, ko)) == ["**하지 않았습니다.** 먼저 갤러리에서 그림을 고른 다음 삭제를 누르세요."]
    said = pick(teaching, ko, SimpleNamespace(index=0))
    assert any("에 모은 **7**을(를) 선택했습니다" in text for text in values(said)), said
    download = handler(demo, "download_drawings")
    update = download(teaching, ko)
    assert values(update)[0].startswith("내 그림 1개를 MNIST 파일로 만들었습니다")
    files = [v for v in update.values() if not isinstance(v, str)][0]
    assert files.label.startswith("내 그림: 이미지 (*-images-idx3-ubyte.gz)")
    try:
        said = values(remove(0, teaching, ko))
        assert said[0] == "**7** 하나를 삭제했습니다." and "| **0** |" in said[1], said
        assert values(download(teaching, ko))[0].startswith("**하지 않았습니다.** 아직 내려받을 것이 없습니다")
    finally:
        teaching.close()


def test_the_collection_stays_english_for_an_english_visitor(demo):
    en, teaching = visitor(), Teaching()
    said = values(handler(demo, "collect")("7", SEVEN, teaching, en))
    assert "Kept as a **7**. Draw the next one." in said and any(s.startswith("Kept so far:") for s in said)
    update = handler(demo, "download_drawings")(teaching, en)
    assert values(update)[0].startswith("Your 1 drawing as MNIST files: the images (`*-images-idx3-ubyte.gz`)")
    teaching.close()


def test_a_bad_upload_is_refused_in_korean_and_changes_nothing(demo, tmp_path):
    bad = [tmp_path / "a-images-idx3-ubyte.gz", tmp_path / "a-labels-idx1-ubyte.gz"]
    for path in bad:
        path.write_bytes(b"not an idx file")
    teaching = Teaching()
    said = values(handler(demo, "upload_drawings")([str(p) for p in bad], teaching, visitor("ko")))
    assert said[0].startswith("**하지 않았습니다.** ") and said[0].endswith(". 모은 그림은 그대로입니다."), said
    assert ".. " not in said[0] and not teaching.collection.drawings


def test_a_language_switch_rewrites_the_first_texts_and_keeps_a_report(demo):
    on_language = handler(demo, "on_language")
    teaching = Teaching()
    idle_status = str(i18n.t("finetune.status_idle"))  # as the page declares it
    idle_bar = collection.idle_progress()
    update = list(on_language(visitor("ko"), teaching, idle_status, idle_bar).values())
    assert update[0] == texts.tr("ko", "collection.counter_empty")
    assert update[1].startswith("서로 다른 숫자를 두 가지 이상") and "시작 전" in update[2]
    back = list(on_language(visitor("en"), teaching, update[1], update[2]).values())
    assert back[1] == texts.tr("en", "finetune.status_idle") and back[2] == idle_bar
    report = list(on_language(visitor("ko"), teaching, "**Done**: 5 steps in 1.0 s.", "<div>x</div>").values())
    assert not isinstance(report[1], str) and not isinstance(report[2], str)  # gr.skip(): the report stays


# --------------------------------------------------------------------------- the fine-tune

def test_fine_tune_refusals_stop_and_save_in_korean(demo):
    ko, teaching = visitor("ko"), Teaching()
    request = SimpleNamespace(username=None, session_hash="s")
    said = [values(update) for update in handler(demo, "finetune")(100, teaching, ko, request)]
    assert len(said) == 1 and said[0][0].startswith("**하지 않았습니다.** "), said
    assert handler(demo, "stop_finetune")(ko) == "실행 중인 내 미세 조정이 없습니다."
    assert values(handler(demo, "save_finetuned")("mine", ko, request)) == [
        "**하지 않았습니다.** 아직 저장할 내 모델이 없습니다. 먼저 미세 조정하세요."]
    assert handler(demo, "stop_finetune")(visitor()) == "No fine-tune of yours is running."


def result(stopped=False, held_out=0):
    return SimpleNamespace(steps=1200, train_s=12.34, stopped=stopped, before=0.5, after=0.875, mnist_before=0.9876,
                           mnist_after=0.9851, held_out=held_out, drawings=8)


def test_the_before_and_after_report_in_korean_and_english():
    text = finetune_run.result_text(result(), "내 현재 모델 (방금 학습)", "ko")
    assert text.startswith("**완료**: 12.3초 동안 스텝 1,200번. 내 현재 모델 (방금 학습)에서 미세 조정했습니다.")
    assert "- 내 그림: **50.0% → 87.5%** 정답, 학습에 쓴 그림 8개 기준" in text
    assert "**98.76% → 98.51%**" in text and "아래에서 저장하세요." in text
    assert "따로 떼어 둔 그림 4개 기준" in finetune_run.result_text(result(True, 4), "x", "ko")
    english = finetune_run.result_text(result(stopped=True, held_out=4), "default (shipped)")
    assert english == ("**Stopped** after 1,200 steps. Fine-tuned from default (shipped).\n\n"
                       "- Your drawings: **50.0% → 87.5%** right, on the 4 drawings held aside (never trained on; at "
                       "least 5 of each digit, a fifth kept aside).\n"
                       "- MNIST test (10,000 images): **98.76% → 98.51%**.\n\n"
                       "This is now your current model: the pad above uses it. Save it below to keep it.")


def test_progress_lines_in_korean(ctx):
    live = finetune_run.FineTuneView(ctx, 8, 100, "ko")
    assert live.text == "**시작하는 중...**" and "빈자리를 기다리는 중..." in live.html()
    live.apply(Waiting(position=2, waiting=2, running=1, waited_s=1.0, starts_in_s=42.0, measured=3))
    assert live.text.startswith("**대기 중: 2번째입니다**: 미세 조정은 약 42초 뒤에 시작할 예정입니다 (이 서버의 최근 실행 3개 기준) "
                                "(실행 자리 ")
    assert live.bar == "대기 중: 2번째, 약 42초 뒤에 시작할 예정입니다 (이 서버의 최근 실행 3개 기준)"
    live.apply(Progress(epoch=1, epochs=1, batch=9, batches=100, current=640, size=6400, step=10, total_steps=100,
                        loss=0.4567, lr=0.01, samples_per_s=64.0, elapsed_s=10.0))
    assert live.text == "그림 8개에 MNIST를 섞어 **미세 조정 중**."
    assert live.bar == "스텝 10 / 100 · 10% · 약 1분 30초 남음 · 손실 0.457"
    live.apply(Finished(result(stopped=True), STOPPED_BY_USER, 13.0))
    assert live.bar == "중지: 12.3초 동안 스텝 1,200번 (직접 중지함)" and live.state == "stopped"
    left = finetune_run.FineTuneView(ctx, 8, 100, "ko")
    left.apply(Cancelled(STOPPED_BY_USER))
    assert left.text == "**실행하지 않음**: 직접 중지함. 바뀐 것은 없습니다."
    english = finetune_run.FineTuneView(ctx, 8, 100)
    english.apply(Progress(epoch=1, epochs=1, batch=9, batches=100, current=640, size=6400, step=10, total_steps=100,
                           loss=0.4567, lr=0.01, samples_per_s=64.0, elapsed_s=10.0))
    assert english.bar == "Step 10 of 100 · 10% · about 1 min 30 s left · loss 0.457"
    english.apply(Finished(result(stopped=True), STOPPED_BY_USER, 13.0))
    assert english.bar == "Stopped: 1,200 steps in 12.3 s (stopped by you)"


def test_the_steps_label_keeps_the_engines_range_in_both_languages(demo):
    """The page declares "<translated words> (1-1000)": the browser translates the words, the range is the engine's."""
    steps = next(c for c in demo.config["components"] if c.get("props", {}).get("elem_id") == "finetune-steps")
    label = steps["props"]["label"]
    assert i18n.resolve(label) == f"Training steps (1-{MAX_STEPS})"
    assert i18n.resolve(label, "ko") == f"학습 스텝 수 (1-{MAX_STEPS})"
