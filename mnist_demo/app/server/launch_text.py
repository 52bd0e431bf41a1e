"""What `demo.launch` prints, said in this app's terms: `python demo.py` captures Gradio's start-up lines and prints
`said(text, ...)` instead.

Gradio 6.31 ends its start-up lines with "To create a public link, set `share=True` in `launch()`.", advice for
someone writing the launch call; a person starting this app asks for a link with `--share`. With `--share` and no
internet connection, Gradio prints "Could not create share link" with a paragraph on its tunnel; the app says in
one line that it keeps serving locally.
"""

from __future__ import annotations

GRADIO_SHARE_HINT = "To create a public link, set `share=True` in `launch()`."
SHARE_HINT = "To create a public link, start it with --share (python demo.py --share; needs an internet connection)."
SHARE_FAILED = "Could not create share link"


def said(text: str, share: bool, local_url: str | None) -> str:
    """Gradio's start-up text with its advice in this app's words (see the module docstring)."""
    if share and SHARE_FAILED in text:
        kept = text[:text.index(SHARE_FAILED)].rstrip("\n")
        return (kept + "\n" if kept else "") + (f"Could not create a share link (no internet connection?): the app "
                                                f"keeps serving locally at {local_url}\n")
    return text.replace(GRADIO_SHARE_HINT, SHARE_HINT)
