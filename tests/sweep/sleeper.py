"""A point that never finishes (`python -m tests.sweep.sleeper '{"sleep": N}'`), for the per-point timeout test."""

import json
import sys
import time

if __name__ == "__main__":
    time.sleep(json.loads(sys.argv[1])["sleep"])
