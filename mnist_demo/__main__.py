"""`python -m mnist_demo ...` runs the command line."""

import sys

from mnist_demo.cli import main

sys.exit(main())
