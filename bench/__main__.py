"""`python -m bench`: the command line (bench.cli.parser). Loads no framework until a command needs one."""

import sys

from bench.cli.parser import main

sys.exit(main())
