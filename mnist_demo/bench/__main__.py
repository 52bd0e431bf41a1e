"""`python -m mnist_demo.bench ...`, the same as `python -m mnist_demo bench ...`."""

import sys

from mnist_demo.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
