"""mnist-demo's web app: `python demo.py` opens the Gradio app (Train, Draw, Mistakes, CPU vs CUDA, Class, Checkpoints).

    python demo.py                          # http://127.0.0.1:7860, for you alone
    python demo.py --share --auth me:secret  # a public link (when online), with a login and tighter caps
    python demo.py --share --scheduler tcp://HOST:8786   # a class: trainings on a Dask cluster's workers

Trainings, fine-tunes and benchmarks run as Dask tasks: on an embedded cluster of one worker process by default (it
starts with the app and warms up in the background), or on a scheduler's workers (`--scheduler`); `--in-process`
runs them in threads of this process instead. Checkpoints are read when a page opens.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import threading

from mnist_demo.cli import MANY, Parser, checked
from mnist_demo.config import DEFAULT_MAX_EPOCHS, number, whole_number

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home (and no waiting for it offline)

AUTH_ENV = "MNIST_DEMO_AUTH"
SCHEDULER_ENV = "MNIST_DEMO_SCHEDULER"
TEACHER_ENV = "MNIST_DEMO_TEACHER"


def _whole(field: str, low: int = 1, high: int = MANY):
    return checked(whole_number, field, low, high)


def _megabytes(field: str):
    return checked(number, field, 0.0, MANY, f"a number of megabytes greater than 0 and at most {MANY}",
                   open_low=True)


def _seconds(field: str):
    """A number of seconds, or 'none' (also 'off', '0') for no limit; "default" is left for make_settings."""
    seconds = checked(number, field, 0.0, MANY, f"a number of seconds greater than 0 and at most {MANY} "
                      "(or 'none')", open_low=True)

    def parse(text: str) -> float | str | None:
        if text == "default":
            return text
        return None if text.strip().lower() in ("none", "off", "0") else seconds(text)

    return parse


def parse_auth(text: str | None) -> list[tuple[str, str]] | None:
    """"user:pass" or "u1:p1,u2:p2" -> [(user, pass), ...]; ValueError with a readable reason."""
    if text is None or not text.strip():
        return None
    pairs = []
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise ValueError("expected USER:PASS (or several, comma-separated), e.g. --auth alice:s3cret")
        pairs.append((user, password))
    return pairs


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python demo.py", description="mnist-demo's web app: train on MNIST, draw digits, "
                "compare CPU and CUDA, manage checkpoints.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s; "
                   "0.0.0.0 for every interface)")
    p.add_argument("--port", type=_whole("port", 0, 65535), default=7860, help="port (default: %(default)s)")
    p.add_argument("--share", action="store_true", help="also create a public gradio.live link (needs internet); "
                   "tightens the per-run caps and quotas unless given explicitly")
    p.add_argument("--auth", default=None, metavar="USER:PASS",
                   help=f"require a login (or set {AUTH_ENV}); several as u1:p1,u2:p2")
    p.add_argument("--teacher", default=None, metavar="USER:PASS",
                   help=f"the teacher's login for the Class tab, who may remove posts, clear the board and export it "
                        f"as CSV (or set {TEACHER_ENV}); with --auth, logging in to the app as USER counts too")
    p.add_argument("--class-name", default="class", metavar="NAME",
                   help="the class board's name, shown as its heading (default: %(default)s)")
    p.add_argument("--board-file", default=None, metavar="PATH",
                   help="the class board's SQLite file; a restart keeps the board (default: class-board.sqlite in "
                        "the checkpoint folder)")
    p.add_argument("--data-dir", default="data", help="where MNIST/raw/ lives (default: %(default)s)")
    p.add_argument("--checkpoint-dir", default=None, help="where checkpoints are saved and listed "
                   "(default: checkpoints/ in this repository)")
    p.add_argument("--device", default=None, help="default training device: cpu, cuda or mps "
                   "(default: the fastest present)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"run trainings, fine-tunes and benchmarks on the workers of this Dask scheduler, e.g. "
                        f"tcp://10.0.0.5:8786 (or set {SCHEDULER_ENV}); default: an embedded cluster of one worker "
                        "process on this machine")
    p.add_argument("--in-process", action="store_true",
                   help="run them in threads of the web process instead of a cluster (as before Dask; for comparison)")
    p.add_argument("--max-trainings", type=_whole("max_trainings"), default=None, metavar="N",
                   help="trainings (and benchmarks) at once on the embedded cluster (default: 1 on CPU, 2 with a GPU); "
                        "a scheduler's workers bring their own slots (their `train` resources)")
    p.add_argument("--max-wait", type=_seconds("max_wait"), default="default", metavar="SECONDS",
                   help="a run is let into the line while it is expected to start within this, from the measured "
                        "length of recent runs; 'none' for no bound (default: 600)")
    p.add_argument("--queue-size", type=_whole("queue_size", 0), default=None, metavar="N",
                   help="the most runs that may wait, whatever their expected wait (default: no count cap)")
    p.add_argument("--max-epochs", type=_whole("max_epochs", 1, DEFAULT_MAX_EPOCHS), default=None, metavar="N",
                   help="the most epochs one run may ask for (default: 20; 6 with --share)")
    p.add_argument("--max-train-seconds", type=_seconds("max_train_seconds"), default="default", metavar="SECONDS",
                   help="wall-clock cap per run, after which it stops and keeps its partial model; 'none' for no "
                        "cap (default: 1800; 600 with --share)")
    p.add_argument("--max-saves", type=_whole("max_saves"), default=None, metavar="N",
                   help="checkpoints one visitor may save (default: 5; 3 with --share)")
    p.add_argument("--max-save-mb", type=_megabytes("max_save_mb"), default=None, metavar="MB",
                   help="megabytes of checkpoints one visitor may save (default: 50; 20 with --share)")
    p.add_argument("--max-upload-mb", type=_megabytes("max_upload_mb"), default=None, metavar="MB",
                   help="largest checkpoint upload in megabytes (default: 20; 10 with --share)")
    p.add_argument("--max-checkpoint-dir-mb", type=_megabytes("max_checkpoint_dir_mb"), default=None, metavar="MB",
                   help="the checkpoint folder's size cap for saves from the app (default: 500; 200 with --share)")
    p.add_argument("--request-timeout", type=_seconds("request_timeout"), default="default", metavar="SECONDS",
                   help="each request must arrive whole (headers and body) within this, else 408 and the connection "
                        "is closed; 'none' for no limit (default: 60)")
    p.add_argument("--torch-threads", type=_whole("torch_threads"), default=None, metavar="N",
                   help="torch threads for trainings, benchmarks and predictions (default: all cores but one, "
                        "which stays free for the web server)")
    return p


def make_settings(args):
    """Settings from parsed arguments; SystemExit(2) with one line for a bad value."""
    from mnist_demo.app.core.board.rules import MAX_CLASS_NAME, check_name
    from mnist_demo.app.core.settings import Settings
    from mnist_demo.devices import available_devices, resolve_device
    from mnist_demo.errors import DemoError, DeviceError

    if args.device:
        try:
            resolve_device(args.device)
        except DeviceError as err:
            raise SystemExit(f"python demo.py: error: --{err}")
    gpu = any(d != "cpu" for d in available_devices()) and (args.device or "auto").split(":")[0] != "cpu"
    overrides = {
        "data_dir": args.data_dir,
        "checkpoint_dir": args.checkpoint_dir,
        "device": args.device.lower() if args.device else None,
        "max_trainings": args.max_trainings or (2 if gpu else 1),
        "queue_size": args.queue_size,
        "max_epochs": args.max_epochs,
        "max_saves_per_visitor": args.max_saves,
        "max_save_mb_per_visitor": args.max_save_mb,
        "max_upload_mb": args.max_upload_mb,
        "max_checkpoint_dir_mb": args.max_checkpoint_dir_mb,
        "torch_threads": args.torch_threads,
    }
    values = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings.for_share(**values) if args.share else Settings(**values)
    if args.max_train_seconds != "default":
        settings.max_train_seconds = args.max_train_seconds
    if args.max_wait != "default":
        settings.max_wait_s = args.max_wait
    scheduler = args.scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler and args.in_process:
        raise SystemExit("python demo.py: error: --in-process and --scheduler ask for two different places to train: "
                         "choose one")
    settings.scheduler = None if args.in_process else (scheduler.strip() if scheduler else "embedded")
    try:
        settings.class_name = check_name(args.class_name, field="class_name", limit=MAX_CLASS_NAME)
    except DemoError as err:
        raise SystemExit(f"python demo.py: error: --class-name: {str(err).removeprefix('class_name: ')}")
    settings.board_file = args.board_file
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        auth = parse_auth(args.auth if args.auth is not None else os.environ.get(AUTH_ENV))
    except ValueError as err:
        parser.error(f"--auth: {err}")
    settings = make_settings(args)
    try:
        teacher = parse_auth(args.teacher if args.teacher is not None else os.environ.get(TEACHER_ENV))
    except ValueError as err:
        parser.error(f"--teacher: {err}")
    if teacher is not None and len(teacher) != 1:
        parser.error("--teacher: one account, USER:PASS")
    settings.teacher = teacher[0] if teacher else None

    from mnist_demo.app.core.models import mistakes
    from mnist_demo.app.page import build_app, launch_kwargs
    from mnist_demo.app.server import launch_text, serving
    from mnist_demo.devices import set_threads

    # uvicorn, as Gradio starts it, never times out a slow client and logs each disconnect as a traceback
    serving.install(serving.REQUEST_SECONDS if args.request_timeout == "default" else args.request_timeout,
                    max_request_bytes=settings.request_limit_bytes)

    set_threads(settings.threads)  # process-wide; by default one core stays free for the web server

    # ---------------------------------------------------------------- layout and events
    try:
        demo = build_app(settings)
    except OSError as err:  # a scheduler that cannot be reached (Dask says why), or a cluster that cannot start
        print(f"python demo.py: error: cannot start where trainings run ({settings.scheduler}): {err}", file=sys.stderr)
        return 1

    # ---------------------------------------------------------------- launch
    if args.share and not auth:
        print(f"Warning: --share without --auth: anyone with the link can use this app; add --auth USER:PASS "
              f"(or set {AUTH_ENV}).", flush=True)
    kwargs, rest = launch_kwargs(demo, settings, server_name=args.host, server_port=args.port, share=args.share,
                                 auth=auth, prevent_thread_lock=True,
                                 auth_message="mnist-demo: please log in" if auth else None)
    captured = io.StringIO()  # Gradio's start-up lines, said in this app's terms (--share, not share=True)
    try:
        with contextlib.redirect_stdout(captured):
            demo.launch(**kwargs)
    except OSError as err:
        sys.stdout.write(captured.getvalue())
        print(f"python demo.py: error: cannot serve on {args.host}:{args.port} ({err})", file=sys.stderr)
        return 1
    sys.stdout.write(launch_text.said(captured.getvalue(), args.share, demo.local_url))
    sys.stdout.flush()
    threading.Thread(target=rest.warm_up, name="warm-up", daemon=True).start()
    # the Mistakes tab opens on the shipped model: its one pass over the test set is made now, not by its first visitor
    threading.Thread(target=mistakes.prepare, args=(demo.mnist_context,), name="mistakes-warm-up", daemon=True).start()
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        demo.mnist_context.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
