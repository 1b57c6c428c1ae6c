"""The MNIST grid search of paper §4.1 (Table 1, Figs. 2-4): its scales and trial table, and the
experiment whose report is the three figures (`ebgan_tf.experiments.grid_figures`).

    experiment = GridExperiment(scale=SCALES["cpu"])      # the cpu scale's subset of Table 1
    engine.reproduce(experiment, "reports/fig2", Runtime(data_dir=...))
"""

from __future__ import annotations

import dataclasses

from ebgan_tf.configs import mlp
from ebgan_tf.configs.mlp import MLPConfig
from ebgan_tf.configs.scales import Scale, pick
from ebgan_tf.experiments.mnist_trials import MnistTrials, Trial

_ALL_LAYERS = dict(n_layer_g=mlp.TABLE1["n_layer_g"], n_layer_d=mlp.TABLE1["n_layer_d"])
# subset: Table 1 axis -> the values this scale uses; "optimization": the (optimD, optimG, lr)
# settings GANs use (None: all 12 of Table 1).
SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        summary=("8 tiny trials (2 EBGAN, 2 EBGAN-PT, 4 GAN; nLayerG=2, nLayerD 2-3, sizeG=400, "
                 "sizeD=128) of 40 steps, scored on 256 samples: checks the machinery end to end "
                 "in seconds, says nothing about the paper."),
        train_steps=40, batch_size=64, log_every=20, num_eval_samples=256,
        subset=dict(n_layer_g=(2,), n_layer_d=(2, 3), size_g=(400,), size_d=(128,),
                    dropout_d=(False,),
                    optimization=(("adam", "adam", 1e-3), ("sgd", "sgd", 1e-2)))),
    "cpu": Scale(
        name="cpu",
        summary=("Table 1 with the widths fixed at their smallest values (sizeG=400, sizeD=128): "
                 "all 16 (nLayerG, nLayerD) pairs x dropoutD, so all three Fig. 2 panels are "
                 "populated, and for GANs all 12 (optimD, optimG, lr) settings of Fig. 3: "
                 "32 EBGAN + 32 EBGAN-PT + 384 GAN trials. Width is what the paper varies last and "
                 "what costs most on a CPU (a 3200-wide layer is 64x a 400-wide one). Each trial "
                 "trains 400 steps of batch 64 (0.43 epochs) and is scored on 1,000 samples."),
        train_steps=400, batch_size=64, log_every=100, num_eval_samples=1_000,
        subset=dict(**_ALL_LAYERS, size_g=(400,), size_d=(128,), dropout_d=(True, False),
                    optimization=None)),
    "paper": Scale(
        name="paper",
        summary=("The whole of Table 1: 512 EBGAN + 512 EBGAN-PT + 6,144 GAN trials. The paper "
                 "gives no training budget; the suite's choice is 20 epochs (18,740 steps of "
                 "batch 64) per trial, scored on 10,000 samples."),
        train_steps=18_740, batch_size=64, log_every=1_874, num_eval_samples=10_000,
        reuse_workers=False, subset=dict(**mlp.TABLE1, optimization=None)),
}


def grid_trials(scale: str | Scale, seed: int = 0, margin: float = 10.0,
                kinds: tuple[str, ...] = mlp.MODEL_KINDS, precision: str = "float32",
                **config_overrides) -> list[Trial]:
    """The trials of one scale, in a fixed order (EBGAN, EBGAN-PT, GAN; Table 1 order within).

    Args:
      scale: "smoke", "cpu", "paper", or a `Scale` with the grid's `subset`.
      seed: the seed of every trial (weights, data order, latents).
      margin: EBGAN margin m (the paper fixes 10 on MNIST).
      kinds: which of EBGAN, EBGAN-PT and GAN.
      precision: "float32" or "mixed".
      config_overrides: other `MLPConfig` fields to set on every trial (e.g. energy_reduction).
    """
    scale = pick(SCALES, scale) if isinstance(scale, str) else scale
    subset = dict(scale.subset)
    optimization = subset.pop("optimization", None)
    base = MLPConfig(seed=seed, margin=margin, batch_size=scale.batch_size,
                     train_steps=scale.train_steps, **config_overrides)
    trials = []
    for kind in kinds:
        for cfg in mlp.table1_grid(kind, base):
            if any(getattr(cfg, axis) not in values for axis, values in subset.items()):
                continue
            if (kind == "gan" and optimization is not None
                    and (cfg.optim_d, cfg.optim_g, cfg.lr) not in optimization):
                continue
            trials.append(Trial(cfg, num_eval_samples=scale.num_eval_samples,
                                eval_seed=seed, log_every=scale.log_every, precision=precision))
    return trials


@dataclasses.dataclass(frozen=True)
class GridExperiment(MnistTrials):
    """Figs. 2, 3 and 4: the grid's trials, and the figures drawn from them."""

    scale: Scale = SCALES["cpu"]
    seed: int = 0
    margin: float = 10.0
    precision: str = "float32"
    num_seeds: int | None = None  # The grid runs once per seed .. seed+n-1 (None: the scale's).
    name = "fig2"

    def __post_init__(self):
        if self.num_seeds is not None and self.num_seeds < 1:
            raise ValueError(f"num_seeds must be at least 1, got {self.num_seeds}")

    @property
    def seeds(self) -> range:
        return range(self.seed, self.seed + (self.num_seeds or self.scale.num_seeds))

    def specs(self) -> list[Trial]:
        return [trial for seed in self.seeds
                for trial in grid_trials(self.scale, seed, self.margin, precision=self.precision)]

    def summary(self) -> str:
        text = f"Scale {self.scale.name}: {self.scale.summary}"
        if len(self.seeds) > 1:
            text += (f" The grid runs once per seed: {len(self.seeds)} seeds, "
                     f"{len(self.specs())} trials.")
        if self.scale.name != "paper":
            text += (" The paper's full grid: rerun with --scale=paper (7,168 trials; for a "
                     "cluster, add --ray_address).")
        return text

    def report_pages(self, frame, context):
        from ebgan_tf.experiments import grid_figures

        return grid_figures.pages(self, frame, context)
