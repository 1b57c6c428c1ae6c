"""What an experiment gives the engine: its runs, how to run one, its table and its report.

An experiment is a frozen settings object (picklable, so Ray workers receive it whole) whose
methods say everything specific to one paper artefact; `ebgan_tf.runs.engine.reproduce` does the
rest, the same way for every figure and table:

    data check -> pending runs -> inline or Ray Tune -> results.csv -> runs log -> report pages

A run spec is a frozen dataclass with a stable `run_id`, `to_dict()` (what goes to Ray and to
`config.json`) and the settings that identify it; `spec_from_dict` reverses `to_dict`.
"""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Page:
    """One HTML page of a report, `<output_dir>/<filename>`; `build()` draws its sections (only
    when the page is written, so a script that writes one page draws only its figures)."""

    filename: str
    title: str
    build: Callable[[], list]
    subtitle: str = ""


@dataclasses.dataclass(frozen=True)
class ReportContext:
    """What every report shows besides the results: its folder, the runs log, the provenance."""

    output_dir: Path
    runs_log: list[dict]
    provenance: dict


class Experiment(abc.ABC):
    """The protocol; subclasses are frozen dataclasses holding the experiment's settings."""

    name: str  # The default report folder: reports/<name>/.
    # True when runs checkpoint mid-way, so an interrupted run's folder is resumed, not redone.
    resumable: bool = False
    # Scores of result.json that TensorBoard's HParams table shows beside `hparams(spec)`.
    hparam_metrics: tuple[str, ...] = ()

    @abc.abstractmethod
    def specs(self) -> list:
        """The runs this invocation must have finished, in a fixed order."""

    def table_specs(self) -> list:
        """The runs results.csv and the report show (default: `specs()`); those not finished
        are left out, so partial experiments of other invocations can be included."""
        return self.specs()

    @abc.abstractmethod
    def spec_from_dict(self, payload: dict):
        """The inverse of a spec's `to_dict()`."""

    def check_data(self, runtime) -> None:
        """Raises `ebgan_tf.errors.DataError` before any run starts if the data is unusable."""

    @abc.abstractmethod
    def run(self, spec, run_dir: Path, runtime) -> dict:
        """Trains and evaluates one run in `run_dir`; returns its outcome: {"status": ..., ...}.

        May raise: `FloatingPointError` is recorded as "diverged", any other exception as
        "failed"; neither stops the other runs."""

    @abc.abstractmethod
    def result_record(self, spec, outcome: dict, wall_time_s: float) -> dict:
        """The run's result.json: its id, status, reason, scores and settings (flat values
        first; Ray Tune keeps only the flat scalars)."""

    @abc.abstractmethod
    def results_table(self, finished: list[tuple], output_dir: Path):
        """The pandas DataFrame written as results.csv, from the (spec, result) pairs of the
        finished runs of `table_specs()`, in order (`output_dir` holds their folders)."""

    @abc.abstractmethod
    def report_pages(self, frame, context: ReportContext) -> list[Page]:
        """The report's pages; the first is the experiment's index.html."""

    def hparams(self, spec) -> dict:
        """Flat settings TensorBoard's HParams table shows for a run (default: none)."""
        return {}

    def summary(self) -> str:
        """One paragraph printed at the start and shown in the report: what this scale runs."""
        return ""
