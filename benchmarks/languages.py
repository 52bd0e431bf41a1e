"""What the second language costs. Prints figures, asserts nothing.

1. The page's translations (`i18n.I18N`, sent to the browser in the page's config): bytes per language, raw and
   gzipped, and how many texts each file has.
2. The server's texts, per call, in English and in Korean: a message with numbers (`tr`), an engine error said
   for the page (`common.error_text`), a duration (`common.seconds`), a checkpoint's recipe line.

    python benchmarks/languages.py [--repeats 20000]
"""

import gzip
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_demo import texts  # noqa: E402
from mnist_demo.app.core.messages import error_text, seconds  # noqa: E402
from mnist_demo.app.core.models.checkpoint_folder import hyperparameters  # noqa: E402
from mnist_demo.app.server import i18n  # noqa: E402
from mnist_demo.cli import Parser  # noqa: E402
from mnist_demo.config import make_config  # noqa: E402
from mnist_demo.errors import ConfigError  # noqa: E402


def per_call_us(fn, repeats: int) -> float:
    """Median of 5 rounds of `repeats` calls, in microseconds per call."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        rounds.append((time.perf_counter() - start) / repeats)
    return 1e6 * statistics.median(rounds)


def main(argv=None) -> int:
    parser = Parser(prog="python benchmarks/languages.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20000, help="calls per round (default: 20000)")
    args = parser.parse_args(argv)

    print("The page's translations (sent once, in the page's config):")
    for lang, table in i18n.I18N.translations_dict.items():
        raw = json.dumps(table, ensure_ascii=False).encode()
        print(f"  {lang}: {len(texts.TEXTS[lang])} texts ({len(table)} for the browser), {len(raw) / 1024:.1f} KB, "
              f"{len(gzip.compress(raw)) / 1024:.1f} KB gzipped")
    everything = json.dumps(i18n.I18N.translations_dict, ensure_ascii=False).encode()
    print(f"  all: {len(everything) / 1024:.1f} KB, {len(gzip.compress(everything)) / 1024:.1f} KB gzipped")

    try:
        make_config(lr=0)
    except ConfigError as err:
        config_error = err
    meta = {"config": {"optimizer": "adam", "lr": 0.003, "batch_size": 128, "schedule": "onecycle",
                       "augment": True, "limit": 6000}}
    cases = {
        "tr, a message with numbers": lambda lang: texts.tr(lang, "common.minutes_seconds", m=3, s="05"),
        "error_text, a settings error": lambda lang: error_text(config_error, lang),
        "seconds, a duration": lambda lang: seconds(185.0, lang),
        "hyperparameters, a recipe line": lambda lang: hyperparameters(meta, lang),
    }
    print(f"\nThe server's texts, microseconds per call (median of 5 rounds of {args.repeats:,}):")
    print(f"  {'':34} {'en':>8} {'ko':>8}")
    for name, fn in cases.items():
        en = per_call_us(lambda: fn("en"), args.repeats)
        ko = per_call_us(lambda: fn("ko"), args.repeats)
        print(f"  {name:34} {en:8.2f} {ko:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
