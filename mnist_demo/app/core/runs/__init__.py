"""The long jobs a visitor runs, as their tabs show them: a training as it goes (`training.py`) and in words
(`text.py`), the runs kept to compare (`kept.py`) and their curves (`curves.py`), the Train form checked (`form.py`),
a kept run exported as a script and notebook (`downloads.py`), a fine-tune (`finetune.py`) and the CPU vs CUDA
benchmark (`benchmark.py`).

May import: the engine, `core.jobs` (what a job yields), `core.models` (a finished run becomes the current model),
the core's root modules (messages, settings, context); never `core.board`, the server or the tabs
(tests/app/test_architecture.py).
"""
