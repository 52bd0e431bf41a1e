"""Plain English names on the API page ("Use via API", `gradio_client`'s `view_api`): `NamedApi`, the app's Blocks.

Gradio 6.31 names each parameter and return of an endpoint after its component's label (`Blocks.get_api_info`).
The app's labels are translated by the browser, so they reached the API page as translation markers
(`{'key': 'train.lr_label', '__type__': 'translation_metadata'}`, shown as "[object Object]"), and a component
without a label as `value_47`. `NamedApi` gives every one a stable name of its component instead (`api_name`),
and leaves the page itself as it was: the labels a visitor sees, in any language, come from the page's config,
which this does not touch.
"""

from __future__ import annotations

import re

import gradio as gr

NAME = re.compile(r"[a-z][a-z0-9_ ]{0,39}")  # a plain name: what an API-only component is labelled ("image")


def api_name(block) -> str | None:
    """A component's name on the API page: its label when that is already a plain name (the API-only components:
    "image", "probabilities"), else its elem_id as a Python name ("train-lr" -> "train_lr"); None for neither."""
    label = getattr(block, "label", None)
    if type(label) is str and NAME.fullmatch(label):  # a translated label is an I18nData (a str subclass)
        return label
    elem_id = getattr(block, "elem_id", None)
    return elem_id.replace("-", "_") if elem_id else None


def _rename(entries: list[dict], blocks: list) -> None:
    """Rename `entries` (an endpoint's parameters or returns) after their components, in order."""
    if len(entries) != len(blocks):  # not the components Gradio listed: leave Gradio's names
        return
    for entry, block in zip(entries, blocks, strict=True):
        name = api_name(block)
        if name is not None:
            entry["label"] = name


class NamedApi(gr.Blocks):
    """gr.Blocks whose API info names every parameter and return after its component (`api_name`)."""

    def get_api_info(self, all_endpoints: bool = False, page: str | None = None):
        info = super().get_api_info(all_endpoints=all_endpoints, page=page)
        for fn in self.fns.values():
            endpoint = info["named_endpoints"].get(f"/{fn.api_name}") if fn.api_name else None
            if endpoint is None:
                continue
            listed = [self.blocks.get(b._id, b) for b in fn.inputs], [self.blocks.get(b._id, b) for b in fn.outputs]
            inputs, outputs = ([b for b in blocks if not b.skip_api] for blocks in listed)
            _rename(endpoint["parameters"], inputs)
            _rename(endpoint["returns"], outputs)
        return info
