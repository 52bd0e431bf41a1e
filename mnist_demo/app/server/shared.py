"""What the tabs' events share on one page (`Shared`), so that no tab imports another: the visitor's per-session
state, the refreshers of the components other tabs change (the Draw tab's model picker, the checkpoint table), and
the one list of what a language switch redraws.

The page (`app/page.py`) makes one `Shared` after every tab's `create_ui`, and hands it to every tab's
`create_event_handlers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import gradio as gr

from mnist_demo.app.core.visitor import Visitor


@dataclass
class Refresher:
    """Updates for a fixed list of components as a function of the visitor: `refresher(visitor)` gives
    `{component: value}` for each of `outputs`, from `fn(visitor)`'s values in that order."""

    fn: Callable[[Visitor], tuple]
    outputs: list

    def __call__(self, visitor: Visitor) -> dict:
        return dict(zip(self.outputs, self.fn(visitor), strict=True))


@dataclass(frozen=True)
class LanguageRedraw:
    """Texts the server wrote that stay on the page: `fn(visitor, *values of inputs) -> {component: value}` writes
    them again in the visitor's language, when the page opens and when the switch is used."""

    fn: Callable[..., dict]
    outputs: tuple
    inputs: tuple = ()


@dataclass
class Shared:
    visitor: gr.State
    refresh_draw: Refresher  # the Draw tab's model picker and model line
    refresh_checkpoints: Refresher  # the Checkpoints tab's table and name picker
    tabs: tuple = ()  # every tab of the page (a tab may listen to the others' opening, never reach into them)
    redraws: list[LanguageRedraw] = field(default_factory=list)

    def on_language(self, fn: Callable[..., dict], outputs, inputs=()) -> None:
        """Register what a language switch redraws (see `LanguageRedraw`); the page wires them all in one event."""
        self.redraws.append(LanguageRedraw(fn, tuple(outputs), tuple(inputs)))
