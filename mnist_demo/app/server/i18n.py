"""The app's words in every language: one TOML file per language in `locales/` (`en.toml`, `ko.toml`).

Two ways a text reaches the page, both from the same files:
- `t(key)` for what the page declares (labels, info lines, buttons, tab names, Markdown that never changes):
  Gradio's own `gr.I18n` translates it in the browser, in the browser's language or the one the visitor
  picked with the language switch, so the page changes language without a round trip.
- `tr(lang, key, **values)` for messages the server writes with numbers in them ("Step 120 of 938"): `gr.I18n`
  has no placeholders, so these are formatted here in the visitor's language (`Visitor.language`).
- `filled(key, **values)` for the few texts the page declares with a number in them ("Epochs (max 20)"): filled
  in every language when the page is built, then translated by the browser like `t(key)`.

A key missing from a language falls back to English; `tests/test_i18n.py` checks that none is missing. Adding
a language is one file: copy `en.toml` to `<code>.toml`, translate the values and the `[language] name`.
"""

from __future__ import annotations

import functools
import json
import string
import tomllib
from pathlib import Path

import gradio as gr
from gradio.i18n import I18nData

LOCALES = Path(__file__).with_name("locales")
DEFAULT = "en"


def _flatten(table: dict, prefix: str = "") -> dict[str, str]:
    """{"train": {"lr": "Learning rate"}} -> {"train.lr": "Learning rate"}."""
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = str(value).strip("\n")  # TOML's """ blocks keep a newline at each end
    return flat


def load(folder: Path = LOCALES) -> dict[str, dict[str, str]]:
    """{language code: {key: text}} from every `<code>.toml` in `folder`."""
    texts: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.toml")):
        code = path.stem  # "ko.toml" -> "ko"
        with path.open("rb") as file:
            texts.setdefault(code, {}).update(_flatten(tomllib.load(file)))
    return texts


TEXTS = load()
LANGUAGES: dict[str, str] = {code: table.get("language.name", code) for code, table in TEXTS.items()}


def placeholders(text: str) -> set[str]:
    """The `{name}` fields a message expects."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _static(table: dict[str, str]) -> dict[str, str]:
    """The texts the browser may translate: those without placeholders (it would show `{n}` as it is)."""
    return {key: text for key, text in table.items() if not placeholders(text)}


I18N = gr.I18n(**{code: _static(table) for code, table in TEXTS.items()})  # passed to demo.launch


def t(key: str) -> I18nData:
    """A text the browser translates: for labels, buttons, tab names and fixed Markdown.

    Raises KeyError for a key English lacks or a text with placeholders (those need `tr`), so a typo fails
    when the app is built, not silently on the page."""
    text = TEXTS[DEFAULT][key]
    if placeholders(text):
        raise KeyError(f"{key!r} has placeholders; format it with tr(lang, key, ...)")
    return I18N(key)


def filled(key: str, **values) -> I18nData:
    """`t(key)` for a text the page declares with a number in it ("Epochs (max 20)"): the browser's translation
    has no placeholders, so the text is filled in every language when the page is built and added to the page's
    translations under a key of its own. A value may be `lambda lang: ...` for words that differ by language."""
    def value(v, lang):
        return v(lang) if callable(v) else v

    # no braces in the key: the page ends a translation marker at its first "}"
    own = key + ":" + ",".join(f"{name}={value(v, DEFAULT)}" for name, v in sorted(values.items()))
    for lang, table in TEXTS.items():
        table[own] = tr(lang, key, **{name: value(v, lang) for name, v in values.items()})
        I18N.translations.setdefault(lang, {})[own] = table[own]
    return I18N(own)


def tr(lang: str | None, key: str, **values) -> str:
    """`key`'s text in `lang` (English where that language lacks it), with `values` filled in."""
    table = TEXTS.get(lang or DEFAULT, {})
    text = table.get(key)
    if text is None:
        text = TEXTS[DEFAULT][key]  # KeyError for a key no language has: a bug, not a visitor's mistake
    return text.format(**values) if values else text


def pick(browser_language: str | None) -> str:
    """The language for a browser's `navigator.language` ("ko-KR" -> "ko"); English when we lack it."""
    if not browser_language:
        return DEFAULT
    tag = str(browser_language).strip().replace("_", "-").lower()[:35]
    for code in (tag, tag.split("-")[0]):
        if code in TEXTS:
            return code
    return DEFAULT


@functools.cache
def _core_module() -> str:
    """The file name of Gradio's frontend module that holds the page's language (it exports `changeLocale`)."""
    assets = Path(gr.__file__).with_name("templates") / "frontend" / "assets"
    for path in sorted(assets.glob("core-*.js")):
        if "changeLocale" in path.read_text(encoding="utf-8", errors="ignore"):
            return path.name
    return "core.js"  # not found: the switch then changes the server's messages only (the page logs why)


def language_js(role: str) -> str:
    """The page script for the language switch: `role` "load" (pick the saved or browser language) or "switch"."""
    script = (Path(__file__).with_name("static") / "language.js").read_text(encoding="utf-8")
    return script.replace("__CORE__", _core_module()).replace("__ROLE__", role)


def choices() -> list[tuple[str, str]]:
    """The language switch's choices: each language named in itself ("English", "한국어")."""
    return [(name, code) for code, name in LANGUAGES.items()]


def resolve(value, lang: str | None = None, translations: dict | None = None):
    """What the browser shows for a value from the page's config: a `t(key)` marker ("__i18n__{...}") is replaced
    by its text in `lang`, as Gradio's frontend does; anything else is returned as it is. For tests and API
    clients. `translations`: the page's own table (its config's "i18n_translations"), which also holds the texts
    `filled` made in that server; by default this process's."""
    def text(key: str) -> str:
        if translations is None:
            return tr(lang, key)
        return translations.get(lang or DEFAULT, {}).get(key) or translations[DEFAULT][key]

    if isinstance(value, I18nData):
        return text(value.key)
    if isinstance(value, dict) and value.get("__type__") == "translation_metadata":
        return text(value["key"])
    if not isinstance(value, str) or "__i18n__" not in value:
        return value
    start = value.index("__i18n__")
    end = value.index("}", start) + 1
    try:
        key = json.loads(value[start + len("__i18n__"):end])["key"]
    except (ValueError, KeyError):
        return value
    return value[:start] + text(key) + resolve(value[end:], lang, translations)
