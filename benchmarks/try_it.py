"""How long each one-click comparison of the Train tab takes, through the running app as a visitor sees it.

Starts `demo.py` (tests/app_server.Server, a temporary checkpoint folder), presses each "try it" button through
the API (`/try_lr`, `/try_batch`) and prints, per comparison: the wall time from the press to the last update,
each run's own training time and final test accuracy (from the runs table). The first comparison also pays for
loading MNIST. The last line is one JSON object with the figures.

    python benchmarks/try_it.py [--repeats 1]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_demo.app.core.runs.kept import COMPARISONS  # noqa: E402
from tests.support.app_server import Server, make_default_checkpoint, new_client, wait_idle  # noqa: E402

TABLE = 8  # /train and /try_*'s outputs: status, progress, log, loss, accuracy, Draw's two, save status, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="presses of each button (default 1)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="try-it-"))
    make_default_checkpoint(tmp / "checkpoints")
    server = Server(tmp, "--checkpoint-dir", str(tmp / "checkpoints"))
    figures = []
    try:
        for repeat in range(args.repeats):
            for comparison in COMPARISONS:
                client = new_client(server)
                wait_idle(client)
                started = time.monotonic()
                final = client.predict("cpu", api_name=f"/try_{comparison.key}")
                wall = time.monotonic() - started
                rows = final[TABLE]["data"]
                runs = [{"run": row[1], "time": row[11], "accuracy": row[10]} for row in rows]
                figures.append({"comparison": comparison.key, "repeat": repeat, "wall_s": round(wall, 1),
                                "runs": runs})
                print(f"{comparison.title}: {wall:.1f} s from the press to the end; "
                      + "; ".join(f"{r['run']}: {r['time']}, {r['accuracy']}" for r in runs), flush=True)
    finally:
        server.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
