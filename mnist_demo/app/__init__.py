"""The Gradio app, in three rooms:

- `core/`: what a visit holds and what the server keeps, with no web framework, by capability (`jobs/`: the line
  for long jobs and how one runs; `runs/`: those jobs as their tabs show them; `models/`: the visitor's models and
  the checkpoint folder; `board/`: the class board; the texts, the settings, the visitor). It imports the engine
  and itself, never gradio.
- `server/`: the web server's plumbing (the texts' wiring into Gradio, the plain `POST /api/predict` route,
  request deadlines and size caps, the Sketchpad's guard, and `long_job`, the one way a tab runs a long job).
  It imports the core and the engine.
- `tabs/`: one module or package per tab (Train, Draw, Mistakes, CPU vs CUDA, Class, Checkpoints), each with
  `create_ui(ctx)` and `create_event_handlers(...)`. A tab imports the core, the server and the engine, never
  another tab.

`page.py` puts the tabs on one page (`build_app(settings)`) and gives `demo.launch` its arguments
(`launch_kwargs`). `tests/app/test_architecture.py` holds these rules.
"""
