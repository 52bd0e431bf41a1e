"""How the app's words reach the page through Gradio (the texts themselves are `mnist_demo/texts.py`'s, gradio-free).

- `t(key)` for what the page declares (labels, info lines, buttons, tab names, Markdown that never changes):
  Gradio's own `gr.I18n` translates it in the browser, in the browser's language or the one the visitor
  picked with the language switch, so the page changes language without a round trip.
- `filled(key, **values)` for the few texts the page declares with a number in them ("Epochs (max 20)"): filled
  in every language when the page is built, then translated by the browser like `t(key)`.
- Messages the server writes with numbers in them ("Step 120 of 938") are `core.texts.tr(lang, key, ...)` in the
  visitor's language (`Visitor.language`): `gr.I18n` has no placeholders.
- `language_js` is the page script for the language switch; `resolve` reads a page's translation markers (tests
  and API clients).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import gradio as gr
from gradio.i18n import I18nData

from mnist_demo.texts import DEFAULT, LANGUAGES, TEXTS, placeholders, tr


def _static(table: dict[str, str]) -> dict[str, str]:
    """The texts the browser may translate: those without placeholders (it would show `{n}` as it is)."""
    return {key: text for key, text in table.items() if not placeholders(text)}


STATIC = Path(__file__).resolve().parent.parent / "static"
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
    script = (STATIC / "language.js").read_text(encoding="utf-8")
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
