"""The models a visitor uses: the current one and where it came from (`current.py`), the checkpoint folder's rules
and quotas (`checkpoint_folder.py`), and a model's mistakes on the test set, cached (`mistakes.py`).

May import: the engine, `core.messages`; nothing else of the app (tests/app/test_architecture.py).
"""
