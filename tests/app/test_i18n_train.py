"""The Train tab in Korean and in English: its locale texts, the words the handlers write (status, progress, the
runs table, run names, the queue's messages) for a visitor whose language is "ko", and English unchanged by default.

A real tiny training goes through the Train handler itself (no server) so that the streamed texts are checked as
a Korean visitor gets them."""

from types import SimpleNamespace

import pytest

from mnist_demo.app.core.jobs.line import JobQueue
from mnist_demo.app.core.jobs.reasons import (
    BUSY,
    CONSUMER_GONE,
    FINISHED,
    PAGE_CLOSED,
    SHUTTING_DOWN,
    STOPPED,
    STOPPED_BY_USER,
    AlreadyActive,
    Busy,
    reason_text,
    time_cap,
)
from mnist_demo.app.core.jobs.runner import Finished, Started, Waiting
from mnist_demo.app.core.messages import error_text
from mnist_demo.app.core.runs import text as run_text
from mnist_demo.app.core.runs.kept import COMPARISONS, KeptRun, labels, table_columns, table_rows
from mnist_demo.app.core.runs.training import LiveRun, Phase
from mnist_demo.app.core.settings import Settings
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.page import build_app
from mnist_demo.app.server import i18n
from mnist_demo.app.tabs import train as train_tab
from mnist_demo.app.tabs.train.runs_panel import table
from mnist_demo.config import PRESET_HELP, PRESETS, make_config
from mnist_demo.models import MODELS
from mnist_demo.texts import tr
from mnist_demo.train import Progress

SECTIONS = ("train.", "compare.", "runs.", "curves.", "live.", "jobs.")


def ours(lang):
    return {k: v for k, v in i18n.TEXTS[lang].items() if k.startswith(SECTIONS) and ":" not in k}


def hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


# --------------------------------------------------------------------------- the locale files

def test_every_train_text_is_in_both_languages_with_the_same_placeholders():
    en, ko = ours("en"), ours("ko")
    assert len(en) > 150 and set(en) == set(ko)
    for key in en:
        assert i18n.placeholders(en[key]) == i18n.placeholders(ko[key]), key
    untranslated = {k for k in en if en[k] == ko[k] and hangul(en[k]) is False and any(c.isalpha() for c in en[k])}
    # code-like texts read the same in Korean (lr, samples/s); everything else is Korean
    assert untranslated <= {"train.changed_lr", "runs.col_lr", "runs.col_rate", "train.preset_change"}, untranslated


def test_the_english_texts_are_the_ones_the_code_used_to_build():
    for name in PRESETS:
        assert tr("en", f"train.preset_{name}") == f"{name}: {PRESET_HELP[name]}"
    for name in MODELS:
        assert tr("en", train_tab.model_key(name)) == train_tab.model_label(name)
    assert tr("en", "runs.try_info") == " ".join(f"*{c.title}*: {c.info}." for c in COMPARISONS)
    for c in COMPARISONS:
        assert tr("en", f"runs.try_{c.key}") == c.title
    for reason in (STOPPED_BY_USER, CONSUMER_GONE, PAGE_CLOSED, SHUTTING_DOWN, FINISHED, BUSY, STOPPED, time_cap(600)):
        assert tr("en", f"jobs.{reason.code}", **reason.values) == reason  # the English string is the text


# --------------------------------------------------------------------------- run_text, live

CONFIG = make_config("fast", model="cnn", lr=0.003, limit=2000, batch_size=128, device="cpu")


def finished_run(lang, stopped=False, reason=None):
    live = LiveRun(CONFIG, lang=lang)
    live.apply(Started(0.0))
    result = SimpleNamespace(stopped=stopped, evaluation=SimpleNamespace(accuracy=0.9812), epochs_completed=1,
                             elapsed_s=12.3, steps=16, samples_seen=2000, train_s=10.0, model=None)
    live.apply(Finished(result, reason, 12.3))
    return live


def test_status_and_progress_in_korean_with_the_numbers_filled_in():
    ctx = SimpleNamespace(jobs=JobQueue(max_running=1, max_waiting=4))
    assert run_text.describe_config(CONFIG, "ko") == "cnn, adam lr 0.003, 배치 128, 1 에폭, 앞의 2,000장, cpu"
    done = finished_run("ko")
    status = run_text.status(ctx, done, CONFIG, "ko")
    assert status.startswith("**완료.**") and "**98.12%**" in status and "12초" in status and "그리기" in status
    assert "완료: 1.00 에폭, 16 스텝, 12초 · 200 samples/s" in run_text.progress(done, "ko")
    assert done.lines[-1] == "Done!"  # the tutorial's own line

    stopped = finished_run("ko", stopped=True, reason=STOPPED_BY_USER)
    assert "**중지했습니다** (직접 중지함)" in run_text.status(ctx, stopped, CONFIG, "ko")
    assert stopped.lines[-1] == "중지됨: 직접 중지함."

    waiting = LiveRun(CONFIG, lang="ko")
    waiting.apply(Waiting(2, 2, 1, 3.0, starts_in_s=70.0, measured=12))
    text = run_text.status(ctx, waiting, CONFIG, "ko")
    assert "**대기 중: 2번째 순서입니다**" in text and "(앞에 1개 대기; 실행 자리 1개 중 0개 사용 중.)" in text
    assert "약 1분 10초 뒤에 시작할 예정입니다 (이 서버의 최근 실행 12개 기준)" in text  # the expected start
    assert waiting.phase == "대기 중: 2번째 순서, 약 1분 10초 뒤에 시작할 예정입니다 (이 서버의 최근 실행 12개 기준)"
    english = LiveRun(CONFIG)
    english.apply(Waiting(2, 2, 1, 3.0, starts_in_s=70.0, measured=0))
    assert english.phase == ("Waiting in line: you are number 2; should start in about 1 min 10 s (a first guess: "
                             "no run has finished here yet)")

    running = LiveRun(CONFIG, lang="ko")
    running.apply(Started(0.0))
    running.apply(Phase("live.training_on", (("device", "cpu"),)))
    assert running.phase == "cpu에서 학습하는 중..."
    running.apply(Progress(epoch=1, epochs=1, batch=0, batches=16, current=0, size=2000, step=8, total_steps=16,
                           loss=0.5, lr=0.003, samples_per_s=512.0, elapsed_s=2.0))
    assert "에폭 1/1 · 스텝 8/16 · 50% · 약 2초 남음 · 512 samples/s" in run_text.progress(running, "ko")
    assert running.lines[0] == "Epoch 1" and running.lines[-1].startswith("loss: 0.500000")  # the tutorial's lines


def test_english_by_default_is_unchanged():
    ctx = SimpleNamespace(jobs=JobQueue(max_running=1, max_waiting=4))
    assert run_text.describe_config(CONFIG) == "cnn, adam lr 0.003, batch 128, 1 epoch, first 2,000 images, on cpu"
    done = finished_run(None)
    assert run_text.status(ctx, done, CONFIG) == (
        "**Done.** Test accuracy **98.12%** after 1 epoch (12 s). This is now your current model: try it in the "
        "**Draw** tab, or save it below.")
    stopped = finished_run(None, stopped=True, reason=STOPPED_BY_USER)
    assert stopped.lines[-1] == "Stopped: stopped by you."
    assert ctx.jobs.describe() == "0 of 1 run slot busy"


def test_the_preset_note_in_korean():
    fast = PRESETS["fast"]
    shown = dict(model=fast.model, optimizer=fast.optimizer, lr=0.004, batch_size=96, epochs=fast.epochs,
                 augment=not fast.augment)
    assert run_text.preset_info("fast", 20, "ko", **shown) == (
        f"직접 바꾼 값: lr 0.004, 배치 96, 데이터 증강 {'끔' if fast.augment else '켬'}; 나머지는 fast 레시피 그대로입니다")
    assert run_text.preset_info("fast", 20, "ko") == "아래 설정을 검증된 레시피로 채웁니다"


# --------------------------------------------------------------------------- runs, table, queue

def kept(number, config, stopped=False):
    return KeptRun(number, number - 1, config, "fast", [], [], SimpleNamespace(accuracy=0.5), 3.21, 1234.0, 0.5,
                   stopped, None, {})


def test_run_names_and_the_runs_table_in_korean():
    plain, augmented = make_config("fast", device="cpu", limit=2000), make_config("fast", device="cpu", augment=True,
                                                                                  limit=5000)
    assert labels([(1, plain), (2, augmented)], "ko") == {1: "증강 없음 · 2k장", 2: "증강 · 5k장"}
    assert labels([(1, plain), (2, plain)], "ko") == {1: "학습 1", 2: "학습 2"}
    assert labels([(1, plain), (2, plain)]) == {1: "run 1", 2: "run 2"}
    assert table_columns("ko")[:3] == ["학습", "곡선", "모델"] and "테스트 정확도" in table_columns("ko")
    row = table_rows([kept(1, augmented, stopped=True)], {1: "증강"}, "ko")[0]
    assert row[6] == "0.5 (중지됨)" and row[7] == "예" and row[10] == "50.00%" and row[11] == "3.2초"

    visitor = Visitor()
    visitor.language = "ko"
    visitor.runs.add(kept(1, plain))
    visitor.runs.add(kept(2, augmented))
    ui = SimpleNamespace(table="table", run="run")
    out = table(ui, visitor)
    assert list(out["table"].columns) == table_columns("ko")
    assert out["run"].choices[0] == ("학습 2: 증강 · 5k장", "2")


def test_the_queue_messages_in_korean_and_english():
    jobs = JobQueue(max_running=1, max_waiting=0, stale_after_s=None)
    first = jobs.submit("a")
    with pytest.raises(Busy) as busy:
        jobs.submit("b")
    assert str(busy.value).startswith("The server is busy (1 run going and 0 waiting")
    assert error_text(busy.value, "en") == str(busy.value)
    assert error_text(busy.value, "ko") == "서버가 바쁩니다 (1개 실행 중, 0개 대기 중으로 가득 찼습니다): 1분 뒤에 다시 해 보세요."
    with pytest.raises(AlreadyActive) as again:
        jobs.submit("a", kind="finetune")
    assert error_text(again.value, "en") == str(again.value) == (
        "You already have a train run running: stop it first, or wait for it to finish.")
    assert error_text(again.value, "ko") == "이미 학습 작업이 실행 중입니다: 먼저 중지하거나 끝날 때까지 기다리세요."
    assert jobs.describe("ko") == "실행 자리 1개 중 1개 사용 중"
    first.cancel()
    first.release()
    jobs.close()
    assert time_cap(600) == "the time limit of 600 s per run was reached"
    assert reason_text(time_cap(600), "ko") == "학습 한 번의 시간 제한 600초에 도달함"
    assert reason_text(PAGE_CLOSED, "ko") == "페이지를 닫음" and reason_text(CONSUMER_GONE) == CONSUMER_GONE
    assert reason_text("something else", "ko") == "something else" and reason_text(None, "ko") is None


# --------------------------------------------------------------------------- the handlers themselves

@pytest.fixture(scope="module")
def app(tmp_path_factory):

    demo = build_app(Settings(checkpoint_dir=str(tmp_path_factory.mktemp("ckpt")), stale_after_s=None))
    yield demo
    demo.mnist_context.jobs.close()


def handler(demo, api_name):
    return next(f for f in demo.fns.values() if f.api_name == api_name)


def korean_visitor():
    visitor = Visitor()
    visitor.language = "ko"
    return visitor


def test_page_texts_with_numbers_are_translated_in_the_browser(app):
    config = app.get_config_file()
    epochs = next(c["props"] for c in config["components"] if c["props"].get("elem_id") == "train-epochs")
    assert i18n.resolve(epochs["label"]) == "Epochs (max 20)"
    assert i18n.resolve(epochs["label"], "ko") == "에폭 (최대 20)"
    limits = next(c["props"] for c in config["components"] if c["props"].get("elem_id") == "train-limits")
    assert i18n.resolve(limits["value"], "ko") == (
        "이 서버의 제한: 학습 한 번에 최대 20 에폭, 30분 00초; 동시에 1개 실행; 10분 00초 안에 시작할 것으로 예상될 때 "
        "대기 줄에 들어갑니다.")
    assert "에폭 (최대 20)" in i18n.I18N.translations_dict["ko"].values()  # what launch(i18n=I18N) sends


def test_stop_save_and_run_buttons_answer_in_korean(app):
    visitor = korean_visitor()
    stop = handler(app, "stop")
    assert stop.fn(visitor) == "학습 중인 것이 없습니다."
    assert stop.fn(Visitor()) == "Nothing of yours is training."
    save = handler(app, "save").fn("mine", visitor, SimpleNamespace(username=None))
    assert list(save.values()) == ["**하지 않았습니다.** 아직 저장할 모델이 없습니다: 먼저 학습하세요 (또는 체크포인트 탭에서 "
                                   "불러오거나 업로드하세요)."]
    for name in ("make_run_current", "remove_run"):
        (message,) = handler(app, name).fn("7", visitor).values()
        assert message.startswith("**하지 않았습니다.**") and "7" in message and "아직 없음" in message, message


def test_a_tiny_training_streams_korean_status_and_table(app):
    visitor = korean_visitor()
    train = handler(app, "train").fn
    request = SimpleNamespace(session_hash="ko-visitor", username=None)
    updates = list(train("fast", "cnn", "adam", 0.003, 128, 1, False, "cpu", 2000, visitor, request))
    texts = [str(v) for u in updates for v in u.values() if isinstance(v, str)]
    statuses = [t for t in texts if t.startswith("**")]
    assert any(t.startswith("**학습 중** cnn, adam lr 0.003, 배치 128") for t in statuses), statuses[:3]
    final = statuses[-1]
    assert final.startswith("**완료.**") and "테스트 정확도" in final and "%" in final, final
    assert any("완료: 1.00 에폭, 16 스텝" in t for t in texts)
    log = next(t for t in reversed(texts) if "Accuracy:" in t)
    assert "Test Error:" in log and "Avg loss:" in log and log.rstrip().endswith("Done!")  # the tutorial's lines
    frames = [v for u in updates for v in u.values() if hasattr(v, "columns")]
    assert frames and list(frames[-1].columns) == table_columns("ko") and frames[-1].iloc[0, 1] == "학습 1"
    # The switch to English rewrites the finished run's status line and its table at once.
    block = next(f for f in app.fns.values() if getattr(f.fn, "__name__", "") == "switch_language")
    others = [getattr(c, "value", None) for c in block.inputs[2:]]  # what the other tabs' redraws read
    shown = {getattr(c, "elem_id", None): v for c, v in block.fn(visitor, "en", *others).items()}
    assert visitor.language == "en"
    assert shown["train-status"].startswith("**Done.** Test accuracy")
    assert "Finished after 1.00 epochs, 16 steps" in shown["train-progress"]
    assert list(shown["runs-table"].columns) == table_columns("en")
    visitor.language = "ko"
    refused = list(train("fast", "cnn", "adam", 0.003, 128, 1, False, "cpu", 0, visitor, request))
    (message,) = refused[0].values()
    assert message.startswith("**하지 않았습니다.**"), message
