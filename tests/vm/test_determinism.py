"""The same deploys and calls give the same results and state in processes with different hash seeds."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("determinism_run.py")


def run(seed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_results_and_state_do_not_depend_on_the_hash_seed():
    digests = {seed: run(seed) for seed in ("0", "1", "4242")}
    assert len(set(digests.values())) == 1, digests
    assert len(next(iter(digests.values()))) == 64
