"""Each visitor's own things (`Visitor`): one per session, kept in a `gr.State` (one per browser tab or API
client), never in a module global. Its current model, its last run's log and curves, the runs it keeps to
compare, its pickers' model choice, its ticket in the line for long jobs, its language. No gradio here.
"""

from __future__ import annotations

import hashlib
import threading
import uuid

from mnist_demo.app.core.jobs.line import Ticket
from mnist_demo.app.core.jobs.reasons import PAGE_CLOSED, STOPPED_BY_USER
from mnist_demo.app.core.models.current import CurrentModel
from mnist_demo.app.core.runs.curves import DEFAULT_X
from mnist_demo.app.core.runs.kept import Runs
from mnist_demo.checkpoints import DEFAULT_NAME


class Visitor:
    """One visitor's things. Created per session by gr.State; nothing here is shared with anyone else.

    A plain class on purpose (not a dataclass): gradio serialises dataclass values into the page config.
    """

    def __init__(self):
        self.id: str = uuid.uuid4().hex
        self.current: CurrentModel | None = None
        self.draw_choice: str = DEFAULT_NAME
        self.ticket: Ticket | None = None
        self.live = None  # mnist_demo.app.core.runs.training.LiveRun of the last or current run
        self.live_number: tuple[int, int] | None = None  # (run number, colour) of the running run, while it runs
        self.runs = Runs()  # this visit's finished runs, compared in the Train tab
        self.x_axis: str = DEFAULT_X  # what the Train tab's curves are plotted against
        self.plot_styles = 0  # how many times the Train tab's plots were restyled (see compare.style)
        self.plan_stopped: threading.Event | None = None  # set by Stop while a comparison's runs go one by one
        self.username: str | None = None
        self.teacher = False  # logged in as the class's teacher on this page (the Class tab)
        self.board_seen: tuple | None = None  # (the board's revision, the language) the Class tab last drew
        self.language: str = "en"  # the messages' language (mnist_demo.app.i18n): the browser's, or the switch's
        self.lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Visitor({self.id[:8]}, current={'yes' if self.current else 'no'}, choice={self.draw_choice!r})"

    def __deepcopy__(self, memo):  # gr.State deep-copies initial values; a Visitor is always made fresh
        return Visitor()

    @property
    def owner(self) -> str:
        """Who owns what this visitor saves: the logged-in user (with --auth), else this session."""
        identity = f"user:{self.username}" if self.username else f"session:{self.id}"
        return hashlib.sha256(identity.encode()).hexdigest()[:16]

    def job_owner(self, session_hash: str | None) -> str:
        return session_hash or self.id

    def stop(self, kind: str) -> str | None:
        """Stop this visitor's run of `kind` ("train", "finetune", "benchmark"): "left" the line if it was
        waiting, "stopping" if it was running, None when none of that kind is active."""
        ticket = self.ticket
        if ticket is None or not ticket.active or ticket.kind != kind:
            return None
        waiting = ticket.position > 0
        ticket.cancel(STOPPED_BY_USER)
        return "left" if waiting else "stopping"

    def close(self) -> None:
        """The session is over: stop its run and let go of its model."""
        ticket = self.ticket
        if ticket is not None and ticket.active:
            ticket.cancel(PAGE_CLOSED)
        self.current = None
        self.live = None
        self.runs.clear()


def new_visitor() -> Visitor:
    """A template Visitor for gr.State: each session gets a fresh one (see Visitor.__deepcopy__)."""
    return Visitor()


def close_visitor(visitor) -> None:
    if isinstance(visitor, Visitor):
        visitor.close()
