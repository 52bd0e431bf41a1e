"""The Mistakes, CPU vs CUDA and Checkpoints tabs in Korean and in English: their handlers called in-process on a
built app (no server), with a visitor whose `language` is "ko" or left at its default, English.

Korean is checked by real words and by the figures filled in; English by the very texts the page showed before
it had a second language."""

import re
import shutil
import types

import pandas as pd
import pytest

from mnist_demo import bench
from mnist_demo.app.core.messages import error_text
from mnist_demo.app.core.models import mistakes as model_mistakes
from mnist_demo.app.core.models.checkpoint_folder import COLUMNS
from mnist_demo.app.core.models.current import YOURS
from mnist_demo.app.core.settings import Settings
from mnist_demo.app.core.visitor import new_visitor
from mnist_demo.app.page import build_app
from mnist_demo.app.server.i18n import resolve
from mnist_demo.app.tabs import bench as bench_tab
from mnist_demo.app.tabs import checkpoints as checkpoints_tab
from mnist_demo.app.tabs import mistakes as mistakes_tab
from mnist_demo.errors import CheckpointError
from tests.support.app_server import SHIPPED


@pytest.fixture(scope="module")
def app(tmp_path_factory, ckpt_dir):
    folder = tmp_path_factory.mktemp("i18n-checkpoints")
    shutil.copy(ckpt_dir / "default.pt", folder / "default.pt")
    (folder / "broken.pt").write_bytes(b"not a checkpoint")
    return build_app(Settings(checkpoint_dir=str(folder)))


def handler(demo, module, name: str, api_name: str | None = None):
    """The function behind one of the page's events, by its module and Python name (or by its API name: a tab's Stop
    is `server.long_job`'s), or behind what a language switch redraws."""
    found = {f.fn for f in demo.fns.values()
             if (getattr(f.fn, "__name__", None) == name and f.fn.__module__ == module.__name__)
             or (api_name is not None and f.api_name == api_name)}
    found |= {r.fn for r in demo.mnist_shared.redraws if r.fn.__name__ == name and r.fn.__module__ == module.__name__}
    assert len(found) == 1, (module.__name__, name, found)
    return found.pop()


def visitor(lang: str | None = None):
    v = new_visitor()
    if lang:
        v.language = lang
    return v


def by_id(demo, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def values(result: dict) -> dict:
    """{elem_id: value} of a handler's `{component: value}` answer."""
    return {getattr(c, "elem_id", None) or str(c): v for c, v in result.items()}


def bench_ui(demo) -> bench_tab.BenchUI:
    """The tab's components, found by their elem_ids (`in_language` needs the note)."""
    ids = dict(note="bench-gpu-note", model="bench-model", batch_sizes="bench-batch-sizes", repeats="bench-repeats",
               button="bench-button", stop="bench-stop", status="bench-status", table="bench-table",
               plot="bench-plot", reading="bench-reading")
    return bench_tab.BenchUI(**{field: by_id(demo, elem_id) for field, elem_id in ids.items()})


REQUEST = types.SimpleNamespace(session_hash=None, username=None)


# --------------------------------------------------------------------------- Mistakes

@pytest.fixture(scope="module")
def shipped_ko(app):
    return values(handler(app, mistakes_tab, "on_pick")("default", visitor("ko"), None))


def test_mistakes_in_korean_status_matrix_chart_and_cell(shipped_ko):
    status = shipped_ko["mistakes-status"]
    assert re.fullmatch(r"\*\*default \(기본 제공\)\*\*: 테스트 이미지 10,000장 중 99\.\d\d% 정답, \d+장 오답 "
                        r"\(테스트 1회(, 저장해 둔 결과)?, \d+\.\d초\)\.", status), status
    matrix = shipped_ko["mistakes-matrix"].data
    assert list(matrix.columns) == ["정답"] + [str(d) for d in range(10)] and int(matrix.iloc[:, 1:].sum().sum()) == 10000
    chart = shipped_ko["mistakes-per-digit"]
    assert (chart.x, chart.y) == ("숫자", "정확도 (%)")
    true, read = shipped_ko["mistakes-true"], shipped_ko["mistakes-read-as"]
    assert re.fullmatch(rf"\*\*숫자 {true}의 테스트 이미지 \d+장을 {read}\(으\)로 읽었습니다\*\*\.",
                        shipped_ko["mistakes-cell-title"]), shipped_ko["mistakes-cell-title"]


def test_mistakes_in_english_are_as_before(app, shipped_ko):
    out = values(handler(app, mistakes_tab, "on_pick")("default", visitor(), None))
    assert re.fullmatch(r"\*\*default \(shipped\)\*\*: 99\.\d\d% of 10,000 test images right, \d+ wrong "
                        r"\(one test pass(, kept)?, \d+\.\d s\)\.", out["mistakes-status"]), out["mistakes-status"]
    assert list(out["mistakes-matrix"].data.columns)[0] == "true"
    assert (out["mistakes-per-digit"].x, out["mistakes-per-digit"].y) == ("digit", "accuracy (%)")
    cell = values(handler(app, mistakes_tab, "on_pair")("default", visitor(), "1", "1"))["mistakes-cell-title"]
    assert re.fullmatch(r"\*\*1,1\d\d test images of a 1 read right\*\*; the 40 least sure first\.", cell), cell
    ko = values(handler(app, mistakes_tab, "on_pair")("default", visitor("ko"), "1", "1"))["mistakes-cell-title"]
    assert re.fullmatch(r"\*\*숫자 1의 테스트 이미지 1,1\d\d장을 맞게 읽었습니다\*\*\. 가장 덜 확신한 40장부터 보여 줍니다\.", ko), ko


def test_mistakes_refusals_in_korean(app):
    out = values(handler(app, mistakes_tab, "on_pick")("nope", visitor("ko"), None))
    assert out["mistakes-status"] == "**하지 않았습니다.** 모델: 'nope'은(는) 쓸 수 없습니다. 목록에서 고르세요"
    assert values(handler(app, mistakes_tab, "on_pick")("nope", visitor(), None))["mistakes-status"] == \
        "**Not done.** Model: 'nope' is not available; choose one from the list"
    with pytest.raises(CheckpointError) as mine:
        model_mistakes.mistakes_for(app.mnist_context, visitor("ko"), YOURS)
    assert str(mine.value) == ("You have no model of your own yet: train one in the Train tab, or pick another "
                               "model above.")  # English for API clients and logs
    assert error_text(mine.value, "ko") == "아직 내 모델이 없습니다. 학습 탭에서 학습시키거나 위에서 다른 모델을 고르세요."
    with pytest.raises(CheckpointError) as gone:
        model_mistakes.mistakes_for(app.mnist_context, visitor("ko"), "gone")
    assert error_text(gone.value, "ko") == "체크포인트 'gone'이(가) 없습니다"
    click = types.SimpleNamespace(index=[3, 0])
    assert values(handler(app, mistakes_tab, "on_cell")("default", visitor("ko"), click)) == {
        "mistakes-cell-title": "개수가 있는 칸(첫 열 제외)을 클릭하면 그 이미지를 볼 수 있습니다."}


def test_the_limits_written_into_the_texts_are_the_codes(app):
    """The page translates one text per label, so limits fixed in the code are written into the texts."""
    label = by_id(app, "mistakes-worst").label
    assert resolve(label) == f"The {mistakes_tab.WORST} most confidently wrong (true → read as)"
    assert resolve(label, "ko") == f"가장 확신하며 틀린 {mistakes_tab.WORST}장 (정답 → 읽은 숫자)"
    sizes, repeats = by_id(app, "bench-batch-sizes").info, by_id(app, "bench-repeats").info
    assert resolve(sizes) == (f"comma-separated, each 1 to {bench_tab.APP_MAX_BATCH} and within what this machine's "
                              "memory allows (checked before it runs)")
    assert f"1부터 {bench_tab.APP_MAX_BATCH}까지" in resolve(sizes, "ko")
    assert resolve(repeats) == (f"timed runs per cell, 1 to {bench.MAX_REPEATS} (each cell also stops after "
                                f"{bench.DEFAULT_TIME_BUDGET_S:g} s of timed work)")
    assert f"1부터 {bench.MAX_REPEATS}까지 (각 칸은 잰 시간이 {bench.DEFAULT_TIME_BUDGET_S:g}초가" in resolve(repeats, "ko")


# --------------------------------------------------------------------------- CPU vs CUDA

def test_bench_table_and_plot_in_korean_and_english():
    rows = [dict(device="cpu", op="train_step", batch_size=16, status="ok", ms_median=1.25, samples_per_s=12800.0,
                 speedup_vs_cpu=None, runs=3, note=""),
            dict(device="cpu", op="inference", batch_size=16, status="ok", ms_median=0.5, samples_per_s=32000.0,
                 speedup_vs_cpu=None, runs=3, note="")]
    ko = bench_tab.table_value(rows, "ko")
    assert list(ko.columns) == ["장치", "작업", "배치 크기", "스텝당 ms (중앙값)", "samples/s", "CPU 대비 속도 향상",
                                "실행 횟수", "비고"]
    assert ko.values.tolist()[0] == ["cpu", "학습 스텝", 16, "1.250", "12,800", "기준", 3, ""]
    assert ko.values.tolist()[1][1] == "추론"
    en = bench_tab.table_value(rows)
    assert list(en.columns) == ["device", "operation", "batch size", "ms per step (median)", "samples/s",
                                "speed-up over CPU", "runs", "note"] == bench_tab.TABLE_COLUMNS
    assert en.values.tolist()[0][1::4] == ["train step", "baseline"]
    chart = bench_tab.plot(rows, (16,), "ko")
    assert (chart.x, chart.y, chart.color) == ("배치 크기", "samples/s", "장치")
    assert (bench_tab.plot(rows, (16,)).x, bench_tab.plot(rows, (16,)).color) == ("batch size", "device")


def test_bench_reports_in_korean():
    report = dict(model="mlp", parameters=669706, batch_sizes=[1, 16], repeats=2, warmup=1, time_budget_s=2.0,
                  torch_version="2.9.1", elapsed_s=75.0, rows=[{}, {}, {}],
                  devices=[dict(name="cpu", available=True, description="8 threads"),
                           dict(name="cuda", available=False, reason="no GPU")])
    ran = bench_tab.what_ran(report, "ko")
    assert ran == ("실행 완료: 모델 `mlp` (파라미터 669,706개), 배치 크기 1, 16, 워밍업 1회 뒤 칸마다 최대 2회 측정 "
                   "(칸마다 2초 한도), torch 2.9.1, 걸린 시간 1분 15초, 학습 없이 단독 실행. "
                   "장치: cpu (8 threads); cuda: 사용할 수 없음 (no GPU).")
    assert bench_tab.what_ran(report).startswith("Ran: model `mlp` (669,706 parameters), batch sizes 1, 16, up to 2 ")
    assert bench_tab.stopped_text(report, None, "ko").startswith("**중지됨** (중지됨): 3칸 측정 후, 걸린 시간 1분 15초.")
    assert bench_tab.stopped_text(report, None).startswith("**Stopped** (stopped) after 3 cells, in 1 min 15 s:")


def test_bench_refusals_and_stop_in_korean(app):
    run, stop = handler(app, bench_tab, "run"), handler(app, bench_tab, "stop", api_name="bench_stop")
    refused = values(next(run("mlp", "1,9000", 2, visitor("ko"), REQUEST)))["bench-status"]
    assert refused.startswith("**하지 않았습니다.** ") and refused.endswith(
        "(batch_sizes): 9000은(는) 이 앱이 허용하는 것보다 큽니다. 각각 1부터 8192까지의 정수여야 합니다"), refused
    english = values(next(run("mlp", "1,9000", 2, visitor(), REQUEST)))["bench-status"]
    assert english.startswith("**Not done.**") and "9000 is more than this app allows" in english, english
    assert stop(visitor("ko")) == "측정 중인 내 작업이 없습니다."
    assert stop(visitor()) == "Nothing of yours is measuring."


def test_a_small_benchmark_run_speaks_korean(app):
    outs = [values(out) for out in handler(app, bench_tab, "run")("mlp", "1", 1, visitor("ko"), REQUEST)]
    statuses = [o["bench-status"] for o in outs if "bench-status" in o]
    assert statuses[0] == "빈 자리를 기다리는 중..."
    assert any(s.startswith("**측정 중...**") for s in statuses)
    last = outs[-1]
    assert last["bench-status"].startswith("실행 완료: 모델 `mlp`"), last["bench-status"]
    table = last["bench-table"]
    assert list(table.columns)[:3] == ["장치", "작업", "배치 크기"] and "학습 스텝" in set(table["작업"])
    assert last["bench-reading"].startswith("**해석.** ")


def test_the_gpu_note_follows_the_language(app):
    english = resolve(by_id(app, "bench-gpu-note").value)
    assert resolve(by_id(app, "bench-gpu-note").value, "ko") != english  # the page has it in Korean too
    update = bench_tab.in_language(app.mnist_context, bench_ui(app), visitor("ko"))
    korean = values(update)["bench-gpu-note"]
    assert values(bench_tab.in_language(app.mnist_context, bench_ui(app), visitor()))["bench-gpu-note"] == english
    if "No GPU here" in english:
        assert korean.startswith("**GPU 없음**: ") and "CPU 쪽만 실행합니다" in korean
    else:
        assert english.startswith("This machine has **") and korean.startswith("이 컴퓨터에는 **")


# --------------------------------------------------------------------------- Checkpoints

def test_the_checkpoint_table_in_korean_and_english(app):
    ctx = app.mnist_context
    ko, picker = checkpoints_tab.refresh(ctx, visitor("ko"))
    assert list(ko.columns) == ["이름", "모델", "테스트 정확도", "에폭", "하이퍼파라미터", "날짜 (UTC)", "크기",
                                "소유자", "상태"]
    rows = {r[0]: r for r in ko.values.tolist()}
    assert rows["default"][7:] == ["기본 제공", "사용 가능"] and rows["default"][2].endswith("%")
    assert rows["broken"][8].startswith("사용할 수 없음: broken.pt")
    assert {value for _, value in picker.choices} == {"default", "broken"}
    en, _ = checkpoints_tab.refresh(ctx, visitor())
    assert list(en.columns) == COLUMNS
    rows = {r[0]: r for r in en.values.tolist()}
    assert rows["default"][7:] == ["shipped", "usable"] and rows["broken"][8].startswith("unusable: broken.pt")


def test_checkpoint_messages_in_korean(app, tmp_path):
    load, delete, upload, pick = (handler(app, checkpoints_tab, name)
                                  for name in ("on_load", "on_delete", "on_upload", "on_pick"))
    assert values(load("", visitor("ko")))["ckpt-status"] == "**하지 않았습니다.** 체크포인트: 선택하지 않았습니다. 목록에서 고르세요"
    assert values(load(None, visitor()))["ckpt-status"] == \
        "**Not done.** Checkpoint: none chosen; pick one from the list"
    loaded = values(load("default", visitor("ko")))["ckpt-status"]
    assert loaded == "`default`을(를) 내 현재 모델로 **불러왔습니다**. 이제 그리기 탭에서 이 모델을 씁니다."
    assert values(load("default", visitor()))["ckpt-status"] == ("**Loaded** `default` as your current model: the "
                                                                "Draw tab now uses it.")
    assert values(delete(" ", visitor("ko"), REQUEST))["ckpt-status"].startswith("**하지 않았습니다.** 체크포인트:")
    assert values(delete("default", visitor("ko"), REQUEST))["ckpt-status"].startswith("**하지 않았습니다.** ")
    assert values(upload(["a.pt", "b.pt"], visitor("ko")))["ckpt-status"] == \
        "**하지 않았습니다.** .pt 파일은 한 번에 하나씩 업로드하세요."
    copy = tmp_path / "mine.pt"
    shutil.copy(SHIPPED, copy)
    uploaded = values(upload(str(copy), visitor("ko")))["ckpt-status"]
    assert re.fullmatch(r"`mine\.pt`을\(를\) \*\*업로드했습니다\*\* \(\d+ KB, 모델 cnn\)\. 이제 내 현재 모델입니다\. "
                        r"계속 쓰려면 학습 탭에서 저장하세요\.", uploaded), uploaded
    assert pick("default", visitor("ko")).label == "default.pt 다운로드"
    assert pick("default", visitor()).label == "Download default.pt"
    assert pick("gone", visitor("ko")).label == ".pt 다운로드"


def test_the_checkpoint_limits_follow_the_language(app):
    """The intro and the upload's label carry this server's settings: in every language on the page as built,
    and written again in the visitor's language whenever the table is listed."""
    s = app.mnist_context.settings
    mb = f"{s.max_upload_mb:g}"
    page_label = by_id(app, "ckpt-upload").label
    assert resolve(page_label) == f"Upload a .pt checkpoint (at most {mb} MB): it becomes your current model"
    assert resolve(page_label, "ko") == f".pt 체크포인트 업로드 (최대 {mb} MB): 업로드한 모델이 내 현재 모델이 됩니다"
    korean = values(handler(app, checkpoints_tab, "in_language")(visitor("ko")))
    assert korean["ckpt-upload"].label == f".pt 체크포인트 업로드 (최대 {mb} MB): 업로드한 모델이 내 현재 모델이 됩니다"
    intro = korean["ckpt-intro"]
    assert intro.startswith("이 앱의 체크포인트 폴더에 저장된 모델입니다.") and \
        intro.endswith(f"(방문자당 최대 {s.max_saves_per_visitor}개, {s.max_save_mb_per_visitor:g} MB).")
    english = values(handler(app, checkpoints_tab, "in_language")(visitor()))
    assert english["ckpt-intro"].endswith(
        f"(at most {s.max_saves_per_visitor} per visitor, {s.max_save_mb_per_visitor:g} MB).")


def test_declared_labels_resolve_in_both_languages(app):
    assert resolve(by_id(app, "bench-button").value, "ko") == "벤치마크 실행"
    assert resolve(by_id(app, "mistakes-model").label, "ko") == "모델"


def test_opening_the_bench_tab_writes_its_note_and_an_empty_tables_headers_in_korean(app):
    on_open = handler(app, bench_tab, "on_open")
    out = values(on_open(visitor("ko"), pd.DataFrame(columns=bench_tab.TABLE_COLUMNS)))
    assert list(out["bench-table"].columns)[:3] == ["장치", "작업", "배치 크기"] and out["bench-table"].empty
    assert out["bench-gpu-note"].startswith(("**GPU 없음**: ", "이 컴퓨터에는 **"))
    measured = pd.DataFrame([["cpu", "train step", 1, "1.000", "1,000", "baseline", 1, ""]],
                            columns=bench_tab.TABLE_COLUMNS)
    assert set(values(on_open(visitor("ko"), measured))) == {"bench-gpu-note"}  # results keep their table
