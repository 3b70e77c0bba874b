"""`python -m bench`: the command line (bench.cli.parser). Loads no framework until a command needs one."""

import os
import sys

from bench.cli.parser import main

code = main()
if code:
    # A fit stopped half way (Ctrl-C, SIGTERM, an error) leaves TensorFlow's generator-backed input iterator (how
    # Keras feeds ImageDataGenerator) to be destroyed at interpreter teardown, where it deadlocks: measured > 60 s
    # after Ctrl-C in an idg run, until kill -9. Everything a failed command owes is done by now (its record is one
    # os.write; pipelines closed; child processes die with this one), so it exits without that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
