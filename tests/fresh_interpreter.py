"""Runs a test file's own `__main__` in a fresh interpreter and returns the JSON it prints.

Logical CPU devices must be configured before TensorFlow starts, so the 2-replica equivalence
tests compute in a child process, whose last `RESULT {json}` line on stdout is the result.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def run_main(test_file: str, timeout: float = 600) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(_REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, test_file], capture_output=True, text=True, env=env,
                         timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])
