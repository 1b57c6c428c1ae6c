"""Table 2's models (paper §4.2): `LadderConfig`, one LN or EBGAN-LN run.

The LN is the bottom-layer-cost Ladder Network (Rasmus et al. 2015; Pezeshki et al. 2015);
EBGAN-LN uses it as the energy of an EBGAN. Appendix D, which gives the paper's settings, is only
recalled (paper.md §3.3), so most settings here are choices, each with its reason.
"""

from __future__ import annotations

import dataclasses

from ebgan_tf.configs.settings import setting, stable_id

MODEL_KINDS = ("ln", "ebgan_ln")
# The standard PI-MNIST ladder (Rasmus et al. 2015; paper.md §3.3).
STANDARD_LAYER_SIZES = (784, 1000, 500, 250, 250, 250, 10)


@dataclasses.dataclass(frozen=True)
class LadderConfig:
    """One LN or EBGAN-LN run of Table 2: the model, its labelled subset, and how it is trained."""

    kind: str = setting("ln", "run", "ln (the baseline) or ebgan_ln")
    num_labels: int = setting(100, "paper", "size of the class-balanced labelled subset (100, "
                              "200 or 1000 in Table 2)")
    seed: int = setting(0, "run", "picks the labelled subset, the initial weights, the noise "
                        "and the data order")
    # --- Ladder (Rasmus et al. 2015; Appendix D as recalled, paper.md §3.3) ---
    layer_sizes: tuple = setting(STANDARD_LAYER_SIZES, "recalled", "784-1000-500-250-250-250-10 "
                                 "(Appendix D as recalled; the standard PI-MNIST ladder)")
    noise_std: float = setting(0.3, "choice", "Gaussian corruption of the input and every "
                               "encoder layer, as in the reference ladder code")
    reconstruction_weight: float = setting(
        1000.0 / 784.0, "choice", "w of the bottom denoising cost on the per-sample sum of "
        "squares: 1000/784, the middle of the grid Appendix D is recalled to search "
        "({5000, 2000, 1000, 500}/784), equal to the classic lambda_0 = 1000 on the per-pixel mean")
    # --- Optimisation (Appendix D as recalled: Adam, beta1 0.5, minibatch 100; the lr grid) ---
    lr: float = setting(0.002, "choice", "the top of the recalled lr grid and the standard LN value")
    adam_beta1: float = setting(0.5, "recalled", "Adam beta1 0.5 (Appendix D as recalled)")
    adam_beta2: float = setting(0.999, "choice", "Adam's default")
    lr_decay_fraction: float = setting(1.0 / 3.0, "choice", "lr decays linearly to 0 over this "
                                       "last part of training, as the reference ladder code")
    labelled_batch_size: int = setting(100, "recalled", "minibatch 100 (Appendix D as recalled)")
    unlabelled_batch_size: int = setting(100, "recalled", "minibatch 100 (Appendix D as recalled)")
    train_steps: int = setting(1000, "run", "set per scale")
    # --- EBGAN-LN (paper §4.2; generator and schedule unknown, paper.md §3.3) ---
    margin: float = setting(
        6.0, "choice", "the initial margin m_0, from a pilot on seed 0 / 100 labels / 1500 "
        "steps scored on training images 50000-59999 (never the test set): LN 6.48 %; "
        "EBGAN-LN m_0 = 3: 6.45 %, 6: 6.20 %, 10: 7.34 %, 20: 10.02 % error")
    margin_decay_fraction: float = setting(0.5, "choice", "m decays linearly to 0 over this "
                                           "first part of training (the paper's schedule is "
                                           "unknown: found by search)")
    noise_dim: int = setting(100, "choice", "z ~ N(0, I) of 100 dimensions (DCGAN's size)")
    generator_width: int = setting(500, "choice", "100-500-500-784, softplus + BN, sigmoid "
                                   "output (Salimans et al. 2016's PI-MNIST generator); the "
                                   "paper's is unknown")
    generator_lr: float = setting(0.002, "choice", "the ladder's lr")
    calibration_examples: int = setting(10_000, "choice", "training images that set the "
                                        "test-time batch-norm statistics")

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if self.num_labels <= 0 or self.num_labels % 10:
            raise ValueError(f"num_labels must be a positive multiple of 10 (a class-balanced "
                             f"subset of the 10 digits), got {self.num_labels}")
        if len(self.layer_sizes) < 2 or self.layer_sizes[-1] != 10:
            raise ValueError(f"layer_sizes must end in the 10 classes, got {self.layer_sizes}")
        if self.margin < 0 or not 0.0 <= self.margin_decay_fraction <= 1.0:
            raise ValueError("margin must be >= 0 and margin_decay_fraction in [0, 1]")
        if self.train_steps < 1:
            raise ValueError(f"train_steps must be positive, got {self.train_steps}")

    def replace(self, **changes) -> "LadderConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["layer_sizes"] = list(self.layer_sizes)
        return d

    @property
    def margin_decay_steps(self) -> int:
        return int(round(self.margin_decay_fraction * self.train_steps))

    @property
    def run_id(self) -> str:
        """Readable prefix + hash of every setting, so any change is a new run."""
        return stable_id(f"{self.kind}-{self.num_labels}-s{self.seed}", self.to_dict())
