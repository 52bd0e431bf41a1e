"""The app's languages (mnist_demo/texts.py, server/i18n.py, locales/*.toml): no key missing in either language, the same
placeholders on both sides, every text the page declares translatable, and the lookups' fallbacks.

The page itself in Korean, in Chromium, is tests/browser/test_journey_korean.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mnist_demo import texts
from mnist_demo.app.server import i18n
from mnist_demo.app.server.i18n import resolve, t
from mnist_demo.texts import TEXTS, placeholders, tr

HANGUL = re.compile("[\uac00-\ud7a3]")
APP = Path(texts.__file__).parent.parent


def test_english_and_korean_are_both_there_and_named_in_themselves():
    assert texts.LANGUAGES["en"] == "English"
    assert texts.LANGUAGES["ko"] == "한국어"
    assert i18n.choices()[:2] == [("English", "en"), ("한국어", "ko")]


@pytest.mark.parametrize("lang", sorted(set(TEXTS) - {"en"}))
def test_no_key_is_missing_in_either_language(lang):
    assert sorted(set(TEXTS["en"]) - set(TEXTS[lang])) == [], f"missing in {lang}"
    assert sorted(set(TEXTS[lang]) - set(TEXTS["en"])) == [], f"{lang} has keys English lacks"


@pytest.mark.parametrize("lang", sorted(set(TEXTS) - {"en"}))
def test_each_translation_fills_the_same_placeholders(lang):
    differ = {key: (placeholders(TEXTS["en"][key]), placeholders(TEXTS[lang][key]))
              for key in TEXTS["en"] if key in TEXTS[lang]
              and placeholders(TEXTS["en"][key]) != placeholders(TEXTS[lang][key])}
    assert differ == {}


def test_no_text_is_empty():
    empty = [(lang, key) for lang, table in TEXTS.items() for key, text in table.items() if not text.strip()]
    assert empty == []


# Words a Korean text may keep in Latin letters: names of things, code and units.
KEPT = {"mnist", "pytorch", "cuda", "adam", "relu", "mlp", "cnn", "sgd", "gradio", "bfloat", "fp32", "bf16", "amx",
        "nvidia", "intel", "onecycle", "cycle", "one", "samples", "png", "jpeg", "idx", "gzip", "json", "http", "https",
        "api", "demo", "small", "tiny", "wide", "tutorial", "fast", "default", "shipped", "english"}


def english_words(text: str) -> list[str]:
    """The English words in `text`, leaving out code, placeholders, links and the names in KEPT."""
    text = re.sub(r"`[^`]*`|\{[^}]*\}|https?://\S+", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{4,}", text) if w.lower() not in KEPT]


def test_korean_is_korean():
    """Every Korean text is written in Hangul, or is language-neutral (names, code, numbers, units): a text left
    in English by mistake is caught here."""
    left = {key: text[:60] for key, text in TEXTS["ko"].items() if not HANGUL.search(text) and english_words(text)}
    assert left == {}, "Korean texts still in English"


def test_the_training_log_keeps_the_tutorials_lines():
    """The log is the tutorial's own output in both languages (the Korean tutorial prints it in English too):
    no translation defines `loss:`, `Test Error:` or `Avg loss` lines."""
    for lang, table in TEXTS.items():
        for key, text in table.items():
            if "Test Error" in text or "Avg loss" in text:
                assert lang == "en" or TEXTS["en"][key] == text or "Test Error" in TEXTS["en"][key], key


def test_t_refuses_unknown_keys_and_texts_with_placeholders():
    with pytest.raises(KeyError):
        t("no.such_key")
    formatted = next(key for key, text in TEXTS["en"].items() if placeholders(text))
    with pytest.raises(KeyError):
        t(formatted)
    marker = t("app.tab_train")
    assert json.loads(str(marker).removeprefix("__i18n__")) == {"__type__": "translation_metadata",
                                                                "key": "app.tab_train"}


def test_the_browser_gets_every_text_without_placeholders():
    for lang, table in i18n.I18N.translations_dict.items():
        assert all(not placeholders(text) for text in table.values())
        assert set(table) == {key for key, text in TEXTS[lang].items() if not placeholders(text)}


def test_tr_formats_in_the_visitors_language_and_falls_back_to_english(tmp_path):
    assert tr("ko", "common.seconds", s=42) == "42초"
    assert tr("en", "common.seconds", s=42) == "42 s"
    assert tr(None, "common.seconds", s=42) == "42 s"
    assert tr("fr", "common.seconds", s=42) == "42 s"  # a language we lack: English
    (tmp_path / "en.toml").write_text('[a]\nb = "Hello {name}"\nc = "Bye"\n', encoding="utf-8")
    (tmp_path / "xx.toml").write_text('[a]\nb = "Hallo {name}"\n', encoding="utf-8")
    loaded = texts.load(tmp_path)
    assert loaded == {"en": {"a.b": "Hello {name}", "a.c": "Bye"}, "xx": {"a.b": "Hallo {name}"}}
    with pytest.raises(KeyError):
        tr("ko", "no.such_key")


def test_multi_line_texts_lose_only_the_toml_newlines(tmp_path):
    (tmp_path / "en.toml").write_text('[a]\nb = """\n**Bold**\nline two\n"""\n', encoding="utf-8")
    assert texts.load(tmp_path)["en"]["a.b"] == "**Bold**\nline two"


@pytest.mark.parametrize("browser, expected", [
    ("ko-KR", "ko"), ("ko", "ko"), ("KO_kr", "ko"), ("en-GB", "en"), ("en", "en"), ("fr-FR", "en"),
    ("", "en"), (None, "en"), ("x" * 5000, "en"), ("<script>", "en"),
])
def test_pick_takes_the_browsers_language_when_we_have_it(browser, expected):
    assert texts.pick(browser) == expected


def test_resolve_reads_the_pages_markers_as_the_browser_does():
    marker = str(t("app.tab_train"))
    assert resolve(marker) == "Train"
    assert resolve(marker, "ko") == "학습"
    assert resolve(t("app.tab_train"), "ko") == "학습"
    assert resolve({"__type__": "translation_metadata", "key": "app.tab_draw"}, "ko") == "그리기"
    assert resolve(f"({marker}) and ({marker})", "ko") == "(학습) and (학습)"
    assert resolve("plain") == "plain"
    assert resolve(3) == 3


def test_the_switch_finds_gradios_language_module():
    """The switch changes the page's language through Gradio's frontend module `core-*.js` (`changeLocale`); a
    Gradio release that renames it would leave the switch changing only the server's texts."""
    name = i18n._core_module()
    assert re.fullmatch(r"core-[\w-]+\.js", name)
    script = i18n.language_js("switch")
    assert name in script and "__CORE__" not in script and "__ROLE__" not in script


# --------------------------------------------------------------------------- the page's declared texts

def page_components():
    """The page's components a person can see: those not hidden themselves or inside a hidden block (the API's
    own hidden components keep their English names)."""
    from mnist_demo.app.page import build_app

    config = build_app().get_config_file()
    by_id = {c["id"]: c for c in config["components"]}
    shown = []

    def walk(node, hidden=False):
        component = by_id.get(node["id"], {})
        hidden = hidden or component.get("props", {}).get("visible") in (False, "hidden")
        if not hidden and component:
            shown.append(component)
        for child in node.get("children", []):
            walk(child, hidden)

    walk(config["layout"])
    return shown


TEXT_PROPS = ("label", "info", "placeholder", "title", "x_title", "y_title")


def declared_texts(components):
    """(component, prop, value) for every text the page declares: labels, info lines, placeholders, plot titles,
    Markdown and button text, tab and accordion names."""
    for component in components:
        props = component.get("props", {})
        kind = component.get("type")
        names = list(TEXT_PROPS)
        if kind in ("markdown", "button", "downloadbutton", "uploadbutton"):
            names.append("value")
        for choice in props.get("choices") or []:
            if isinstance(choice, (list, tuple)) and choice and isinstance(choice[0], str):
                yield component, "choices", choice[0]  # (label, value): the label is what is shown
        for name in names:
            value = props.get(name)
            if isinstance(value, str) and value.strip():
                if kind in ("markdown",) and name == "label" and not props.get("show_label"):
                    continue  # a Markdown's label is never shown
                yield component, name, value


def test_every_text_the_page_declares_is_translated():
    """Each label, info line, placeholder, plot title, button and fixed Markdown is a `t(key)` marker (the browser
    shows it in the visitor's language) with the key in every language; the few plain ones are language-neutral."""
    plain, unknown = [], []
    for component, prop, value in declared_texts(page_components()):
        if "__i18n__" in value:
            for key in re.findall(r'"key": "([^"]+)"', value):
                if any(key not in table for table in TEXTS.values()):
                    unknown.append(key)
        elif english_words(value):
            plain.append((component.get("props", {}).get("elem_id") or component.get("type"), prop, value[:60]))
    assert unknown == []
    assert plain == [], "texts the page shows in English whatever the language"


def test_a_checkpoints_recipe_in_either_language():
    """The recipe line shown in the Checkpoints table and the Draw tab's model line: words translated, code names
    (optimizer, lr, schedule) kept."""
    from mnist_demo.app.core.models.checkpoint_folder import hyperparameters

    meta = {"config": {"optimizer": "adam", "lr": 0.003, "batch_size": 128, "schedule": "onecycle", "augment": True,
                       "limit": 6000}}
    assert hyperparameters(meta) == "adam, lr 0.003, batch 128, onecycle, augmented, 6000 samples"
    assert hyperparameters(meta, "ko") == "adam, lr 0.003, 배치 128, onecycle, 데이터 증강, 6000장"
    assert hyperparameters({}, "ko") == "-"


def test_resolve_reads_a_servers_own_filled_texts_from_its_page():
    """A text `filled` in another process (a running server) is read from that page's own translations."""
    page = {"en": {"x.y:n=3": "Three"}, "ko": {"x.y:n=3": "셋"}}
    marker = '__i18n__{"__type__": "translation_metadata", "key": "x.y:n=3"}'
    assert resolve(marker, translations=page) == "Three"
    assert resolve(marker, "ko", translations=page) == "셋"
    assert resolve(marker, "fr", translations=page) == "Three"


def test_why_a_device_cannot_run_in_either_language():
    """The benchmark's reason a device is missing (its table, the GPU note): the app's English is the engine's."""
    from mnist_demo import bench
    from mnist_demo.app.tabs.bench import device_reason
    from mnist_demo.devices import available_devices

    for code, english in bench.UNAVAILABLE.items():
        assert TEXTS["en"][f"device_reason.{code}"] == english
        assert HANGUL.search(TEXTS["ko"][f"device_reason.{code}"])
    why = ("no_cuda_gpu", {"cuda": "13.0"})
    assert device_reason(why) == bench.UNAVAILABLE["no_cuda_gpu"].format(cuda="13.0")
    assert "CUDA 13.0용" in device_reason(why, "ko")
    entry = bench.device_entry("mps") if "mps" not in available_devices() else None
    if entry is not None:
        assert entry["reason"] == bench.unavailable_reason("mps") and entry["reason_code"] == "no_mps"
