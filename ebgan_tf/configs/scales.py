"""One `Scale` type for every experiment: how much of it a run of the scripts does.

`smoke` checks the machinery in seconds (CI), `cpu` is what a 2-core machine finishes in minutes,
`paper` is the paper's setting (for accelerators). A scale holds the training budget every
experiment has, plus `overrides` (config fields set at this scale, e.g. a narrower network for
smoke) and `subset` (which values of which axes run, e.g. the grid's widths), which each
experiment reads for its own axes.
"""

from __future__ import annotations

import dataclasses
import math

SCALE_NAMES = ("smoke", "cpu", "paper")
MNIST_TRAIN_IMAGES = 60_000


@dataclasses.dataclass(frozen=True)
class Scale:
    name: str  # One of SCALE_NAMES.
    summary: str  # What this scale runs, and why: printed at the start, shown in the report.
    train_steps: int  # Per run; one step is one D and one G update (one LN update for the LN).
    batch_size: int
    log_every: int  # Steps per metrics row (and per checkpoint, for runs that checkpoint).
    num_eval_samples: int = 0  # Samples a generator is scored on (0: not scored).
    num_seeds: int = 1
    # Reusing Ray worker processes saves TensorFlow's start-up (~5 s) per run, but a worker's
    # memory grows with the runs it has done (~12 MB per MNIST trial), so long runs start fresh.
    reuse_workers: bool = True
    overrides: dict = dataclasses.field(default_factory=dict, hash=False)
    subset: dict = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self):
        if self.name not in SCALE_NAMES:
            raise ValueError(f"scale must be one of {SCALE_NAMES}, got {self.name!r}")
        if self.train_steps % self.log_every:
            raise ValueError(f"train_steps ({self.train_steps}) must be a multiple of log_every "
                             f"({self.log_every})")

    @property
    def epochs(self) -> float:
        """Passes over MNIST's 60,000 training images."""
        return self.train_steps * self.batch_size / MNIST_TRAIN_IMAGES

    def replace(self, **changes) -> "Scale":
        return dataclasses.replace(self, **changes)


def pick(scales: dict, name: str) -> Scale:
    """`scales[name]`, or a ValueError naming the choices."""
    if name not in scales:
        raise ValueError(f"scale must be one of {sorted(scales)}, got {name!r}")
    return scales[name]


def rows_every(train_steps: int, rows: int) -> int:
    """Steps per metrics row for about `rows` rows that divide `train_steps` exactly."""
    target = max(1, math.ceil(train_steps / rows))
    return next(d for d in range(target, train_steps + 1) if train_steps % d == 0)
