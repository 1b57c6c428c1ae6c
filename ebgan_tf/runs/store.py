"""The run store: one folder per run under `<output_dir>/trials/<run_id>/`, finished when its
`result.json` exists.

A run folder holds `config.json` (written first: the spec, so the folder explains itself), what
the experiment writes while the run trains (metrics.csv, checkpoints/, tensorboard/, samples) and,
written atomically and last, `result.json`, whose `status` is

  ok        the run trained and was evaluated;
  diverged  a model outcome: the losses or samples became NaN/inf (recorded with the step);
  failed    not a model outcome (an error, a crashed worker), recorded with the reason.

A folder without `result.json` is a run that was interrupted: a resumable experiment (one that
checkpoints) continues it, any other starts it again from nothing. A `failed` run is run again by
the next invocation; `ok` and `diverged` runs never are. Run ids come from
`ebgan_tf.configs.settings.stable_id`: every setting that changes a run's numbers is in its id.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ebgan_tf.atomic_files import write_json_atomic
from ebgan_tf.errors import UsageError

RESULT_FILE = "result.json"
CONFIG_FILE = "config.json"
STATUSES = ("ok", "diverged", "failed")


class RunStore:
    """The run folders of one experiment's output folder."""

    def __init__(self, output_dir: str | os.PathLike):
        self.root = Path(output_dir)

    def run_dir(self, run_id: str) -> Path:
        return self.root / "trials" / run_id

    def read_result(self, run_id: str) -> dict | None:
        """The run's `result.json`, or None when it has not finished."""
        try:
            return json.loads((self.run_dir(run_id) / RESULT_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            # result.json is written by rename, so this is damage from outside: redo the run.
            return None

    def needs_running(self, run_id: str) -> bool:
        result = self.read_result(run_id)
        return result is None or result.get("status") == "failed"

    def begin(self, run_id: str, config: dict, resume: bool) -> Path:
        """Prepares the run's folder and returns it.

        `resume`: keep what an interrupted run left (its checkpoints), provided its config.json
        is this config; otherwise a folder without result.json is emptied first.
        """
        config = json.loads(json.dumps(config))  # As it reads back: tuples become lists.
        folder = self.run_dir(run_id)
        config_path = folder / CONFIG_FILE
        if folder.exists():
            found = _read_json(config_path)
            if resume and found is not None and found != config:
                raise UsageError(f"{folder} holds a run with other settings; delete that folder "
                                 "or use another --output_dir.")
            if not resume or found is None:
                shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not config_path.exists():
            write_json_atomic(config_path, config)
        return folder

    def finish(self, run_id: str, result: dict) -> dict:
        """Writes `result.json` atomically: from now on the run is finished."""
        if result.get("status") not in STATUSES:
            raise ValueError(f"a result's status must be one of {STATUSES}, got {result.get('status')!r}")
        write_json_atomic(self.run_dir(run_id) / RESULT_FILE, result)
        return result


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
