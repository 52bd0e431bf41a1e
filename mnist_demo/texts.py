"""The project's words in every language, as plain data: one TOML file per language in `mnist_demo/locales/`
(`en.toml`, `ko.toml`), flattened to `{language: {key: text}}`. No gradio: the engine (an exported notebook's
explanations), the app's core, its server and its tabs all read them.

`tr(lang, key, **values)` is the one lookup: `key`'s text in `lang` (English where that language lacks it), with
`values` filled in. How the page's own labels reach the browser (Gradio's `gr.I18n`) is `server/i18n.py`'s.

A key missing from a language falls back to English; `tests/app/test_i18n.py` checks that none is missing. Adding
a language is one file: copy `en.toml` to `<code>.toml`, translate the values and the `[language] name`.
"""

from __future__ import annotations

import string
import tomllib
from pathlib import Path

LOCALES = Path(__file__).resolve().parent / "locales"
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


def has(key: str) -> bool:
    """Whether English (and so every language, through the fallback) has a text for `key`."""
    return key in TEXTS[DEFAULT]


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
