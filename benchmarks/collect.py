"""What one `collect` call costs an API client as the collection grows: the Draw tab's "Right?" through Gradio's
API (gradio_client, which downloads every file an answer names, as a script using the API would), timed at
several collection sizes. Prints figures, asserts nothing.

    python benchmarks/collect.py [--sizes 1,20,40] [--repeats 5] [--url http://127.0.0.1:7860/]

Without --url it starts `python demo.py` on a free port (tests/support/app_server.py). Each size is reached by
collecting drawings one by one; at each size the next `repeats` calls are timed (median and max, ms), and the
answer's size (files named in it) is printed too. Last line: JSON.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradio_client import Client, handle_file  # noqa: E402

from tests.support.app_server import Server, make_default_checkpoint, save  # noqa: E402
from tests.support.digits import draw  # noqa: E402


def files_in(value) -> int:
    """How many files an answer names (each one a download for the client)."""
    if isinstance(value, (list, tuple)):
        return sum(files_in(v) for v in value)
    if isinstance(value, dict):
        return sum(files_in(v) for v in value.values())
    return int(isinstance(value, str) and Path(value).suffix in (".png", ".webp", ".jpeg", ".gz"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,20,40", help="collection sizes to time at (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per size (default: %(default)s)")
    parser.add_argument("--url", default=None, help="a running demo.py (default: start one)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = None
        if args.url is None:
            make_default_checkpoint(tmp / "checkpoints")
            server = Server(tmp, "--checkpoint-dir", str(tmp / "checkpoints"))
        try:
            client = Client(args.url or server.url, verbose=False)
            pads = [{"background": None, "layers": [], "composite": handle_file(str(
                save(draw(d, box=(100, 60, 180, 280), width=22, mode="alpha"), tmp / f"d{d}.png")))}
                for d in range(10)]
            kept, rows = 0, []
            for size in sizes:
                while kept < size:
                    client.predict(str(kept % 10), pads[kept % 10], api_name="/collect")
                    kept += 1
                times, files = [], 0
                for i in range(args.repeats):
                    start = time.perf_counter()
                    answer = client.predict(str(i % 10), pads[i % 10], api_name="/collect")
                    times.append(1000 * (time.perf_counter() - start))
                    files = files_in(answer)
                    kept += 1
                row = {"drawings": size, "median_ms": round(statistics.median(times), 1),
                       "max_ms": round(max(times), 1), "files_per_answer": files}
                print(f"at {size:4d} drawings: median {row['median_ms']:7.1f} ms, max {row['max_ms']:7.1f} ms, "
                      f"{files} files in each answer", flush=True)
                rows.append(row)
            print(json.dumps({"collect": rows}))
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
