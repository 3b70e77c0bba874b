"""`python -m bench`: the command line (bench.cli). Loads no framework until a command needs one."""

import sys

from bench.cli import main

sys.exit(main())
