"""The app's gradio-free core: what a visit holds and what the server keeps, with no web framework in sight.

By capability, from the bottom up:
- `messages.py`: errors and durations in the visitor's words (the words themselves are `mnist_demo/texts.py`'s);
- `settings.py`: what demo.py's flags decide;
- `jobs/`: the line for long jobs and how one runs (in this process or on a Dask worker);
- `models/`: the visitor's current model, the checkpoint folder, a model's mistakes;
- `runs/`: the long jobs as their tabs show them (a training, the runs kept, a fine-tune, the benchmark);
- `board/`: the class board and its teacher;
- `context.py`, `visitor.py`: the services the server shares, and each visitor's own things, over all of the above.

Imports the engine (`mnist_demo.*`) and its own modules only; never gradio, `mnist_demo.app.server` or
`mnist_demo.app.tabs`. Each package's docstring says what it may import; tests/app/test_architecture.py holds it.
"""
