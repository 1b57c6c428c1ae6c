"""Experiment settings as frozen dataclasses, Table 1 as data, and the paper's named presets.

A trial of the MNIST study is one flat `MLPConfig`: the eight Table 1 settings under the paper's
names (in snake case), plus every setting the paper is silent on, each with the default this suite
chose and why. A flat record serialises to `config.json` and to one `results.csv` row unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from typing import Iterator

MODEL_KINDS = ("ebgan", "ebgan_pt", "gan")
OPTIMIZERS = ("adam", "sgd")

# Table 1 of the paper (paper.md §2.1), verified against the figure image.
TABLE1 = {
    "n_layer_g": (2, 3, 4, 5),
    "n_layer_d": (2, 3, 4, 5),
    "size_g": (400, 800, 1600, 3200),
    "size_d": (128, 256, 512, 1024),
    "dropout_d": (True, False),
}
TABLE1_OPTIMIZATION = {
    # EBGANs are restricted to Adam at lr 1e-3 (paper §4.1 restriction (i)).
    "ebgan": {"optim_d": ("adam",), "optim_g": ("adam",), "lr": (1e-3,)},
    "gan": {"optim_d": ("adam", "sgd"), "optim_g": ("adam", "sgd"), "lr": (1e-2, 1e-3, 1e-4)},
}
# The paper's column names, used in results.csv and the reports.
PAPER_NAMES = {
    "n_layer_g": "nLayerG", "n_layer_d": "nLayerD", "size_g": "sizeG", "size_d": "sizeD",
    "dropout_d": "dropoutD", "optim_d": "optimD", "optim_g": "optimG", "lr": "lr",
}


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """One fully connected GAN/EBGAN/EBGAN-PT model of the MNIST study, and how it is trained."""

    kind: str = "ebgan"  # "ebgan", "ebgan_pt" (EBGAN with the pulling-away term) or "gan".
    # --- Table 1 ---
    n_layer_g: int = 5  # Weight layers in G, the tanh output layer included.
    n_layer_d: int = 2  # Weight layers in D; for EBGAN, encoder layers + the one decoder layer.
    size_g: int = 1600  # Width of every hidden layer of G (constant width: paper silent).
    size_d: int = 1024  # Width of every hidden layer of D; the EBGAN code is this wide.
    dropout_d: bool = False
    optim_d: str = "adam"
    optim_g: str = "adam"
    lr: float = 1e-3
    # --- EBGAN (paper §2, §4.1) ---
    margin: float = 10.0  # "set to 10 and not tuned" on MNIST.
    pt_weight: float = 0.1  # PT weight (paper §2.4, Appendix F); used only when kind is "ebgan_pt".
    energy_reduction: str = "l2"  # Eq. 13 as written; "mse"/"sse" are compared in the Fig. 9 report.
    hinge: str = "per_sample"  # Eq. 1; "batch_mean" reproduces common ports.
    pt_squared: bool = True  # Eq. 14; False reproduces ports that sum unsquared cosines.
    stop_gradient_target: bool = False  # Ports that detach the AE target; the paper does not.
    # --- GAN baseline ---
    gan_loss: str = "non_saturating"  # Paper silent; the usual practical choice.
    # --- Architecture choices (Appendix C as recalled, paper.md §2.3; each a setting) ---
    image_size: int = 32  # Padded MNIST (paper §2.3).
    noise_dim: int = 100  # Choice: latent size is not given; 100 as in DCGAN.
    batch_norm: bool = True  # After each weight layer except G's output and D's input layer.
    activation: str = "relu"
    g_init_stddev: float = 0.02
    d_init_stddev: float = 0.002
    dropout_rate: float = 0.5  # Choice: the paper gives no rate; 0.5 is the classic FC rate.
    code_activation: str = "relu"  # Choice: the encoder output (the PT code) goes through ReLU.
    decoder_activation: str = "linear"  # Choice: unbounded, so energies can exceed large margins.
    sync_batch_norm: bool = True  # Batch statistics over the global batch under tf.distribute.
    # --- Optimisers (paper silent on all but the name and lr) ---
    adam_beta1: float = 0.5  # DCGAN's value; the paper follows DCGAN guidance elsewhere.
    adam_beta2: float = 0.999
    sgd_momentum: float = 0.0  # Torch7 optim.sgd's default: plain SGD.
    # --- Training budget ---
    batch_size: int = 64  # Choice: the paper gives no batch size.
    train_steps: int = 2000  # Overridden per scale by the runners; one step = one D + one G update.
    seed: int = 0

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        for name in ("optim_d", "optim_g"):
            if getattr(self, name) not in OPTIMIZERS:
                raise ValueError(f"{name} must be one of {OPTIMIZERS}, got {getattr(self, name)!r}")
        if self.n_layer_g < 1 or self.n_layer_d < (2 if self.is_ebgan else 1):
            raise ValueError(f"too few layers: nLayerG={self.n_layer_g}, nLayerD={self.n_layer_d}")
        if self.margin < 0:
            raise ValueError(f"margin must be non-negative, got {self.margin}")

    @property
    def is_ebgan(self) -> bool:
        return self.kind in ("ebgan", "ebgan_pt")

    @property
    def effective_pt_weight(self) -> float:
        return self.pt_weight if self.kind == "ebgan_pt" else 0.0

    def replace(self, **changes) -> "MLPConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def paper_settings(self) -> dict:
        """The Table 1 settings under the paper's column names."""
        return {paper: getattr(self, field) for field, paper in PAPER_NAMES.items()}

    @property
    def trial_id(self) -> str:
        """A stable id: readable prefix + hash of every setting, so any change is a new trial."""
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
        return (f"{self.kind}-g{self.n_layer_g}x{self.size_g}-d{self.n_layer_d}x{self.size_d}"
                f"{'-drop' if self.dropout_d else ''}-{self.optim_d}-{self.optim_g}-lr{self.lr:g}"
                f"-s{self.seed}-{digest}")


def table1_grid(kind: str, base: MLPConfig | None = None) -> Iterator[MLPConfig]:
    """The Table 1 product for one kind: 512 EBGAN or EBGAN-PT configs, or 6,144 GAN configs."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
    base = (base or MLPConfig()).replace(kind=kind)
    axes = {**TABLE1, **TABLE1_OPTIMIZATION["gan" if kind == "gan" else "ebgan"]}
    names = list(axes)
    for values in itertools.product(*(axes[n] for n in names)):
        yield base.replace(**dict(zip(names, values)))


# The single configurations the paper names (Appendix C as recalled, Appendix F; paper.md §2.7, §6.1).
PRESETS: dict[str, MLPConfig] = {
    "fig4_gan": MLPConfig(kind="gan", n_layer_g=5, n_layer_d=2, size_g=1600, size_d=1024,
                          dropout_d=False, optim_d="sgd", optim_g="sgd", lr=1e-2),
    "fig4_ebgan": MLPConfig(kind="ebgan", n_layer_g=5, n_layer_d=2, size_g=800, size_d=1024,
                            dropout_d=False, margin=10.0),
    "fig4_ebgan_pt": MLPConfig(kind="ebgan_pt", n_layer_g=5, n_layer_d=2, size_g=800, size_d=1024,
                               dropout_d=False, margin=10.0),
    "fig9": MLPConfig(kind="ebgan", n_layer_g=5, n_layer_d=2, size_g=1600, size_d=1024,
                      dropout_d=False, margin=10.0),
}


def preset(name: str, **overrides) -> MLPConfig:
    """A named paper configuration, optionally with some settings changed."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
