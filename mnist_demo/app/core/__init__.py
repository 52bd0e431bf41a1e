"""The app's gradio-free core: what a visit holds and what the server keeps, with no web framework in sight.

Visitor state, the line for long jobs and how one runs, the checkpoint library, kept runs, live progress, curves,
the texts in every language, and the visitor's current model. Imports the engine (`mnist_demo.*`) and its own
modules only; never gradio, `mnist_demo.app.server` or `mnist_demo.app.tabs` (tests/app/test_architecture.py).
"""
