"""The line for long jobs (trainings, fine-tunes, benchmarks) and how one runs, wherever it runs.

`line.py` admits jobs (JobQueue: one per visitor, a bounded wait, the exclusive benchmark; a Ticket each) and
`estimates.py` says when a waiting job should start; `reasons.py` says why a job stopped or was refused, as codes;
`runner.py` runs a ticket's work in a thread of this process and `cluster.py` as a Dask task on a worker, with
`remote.py` for what crosses to the worker and back.

May import: the engine, `core.messages`, and its own modules; nothing that shows a job (`core.runs`, the
server, the tabs): a job's work and what it emits are the caller's (tests/app/test_architecture.py).
"""
