"""The class board: the runs a class posts, in one SQLite file (`store.py`), what it accepts (`rules.py`), what a
redraw of the Class tab shows (`view.py`), the board in the visitor's words (`text.py`), and who is the teacher
(`teacher.py`).

May import: the engine, `core.runs` (a kept run becomes a post), `core.messages`; never
`core.jobs`, the server or the tabs (tests/app/test_architecture.py).
"""
