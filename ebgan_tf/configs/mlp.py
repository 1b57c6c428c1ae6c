"""The MNIST study's models (paper §4.1): `MLPConfig`, Table 1 as data, and the named presets.

A trial of the MNIST study is one flat `MLPConfig`: the eight Table 1 settings under the paper's
names (in snake case), plus every setting the paper is silent on, each declared with its source
and reason (`ebgan_tf.configs.settings`). A flat record serialises to `config.json` and to one
`results.csv` row unchanged.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Iterator

from ebgan_tf.configs.adversarial import AdversarialConfig
from ebgan_tf.configs.settings import setting, stable_id

MODEL_KINDS = AdversarialConfig.KINDS

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
class MLPConfig(AdversarialConfig):
    """One fully connected GAN/EBGAN/EBGAN-PT model of the MNIST study, and how it is trained."""

    # --- Table 1 ---
    n_layer_g: int = setting(5, "paper", "Table 1: weight layers in G, the tanh output included")
    n_layer_d: int = setting(2, "paper", "Table 1: weight layers in D; for EBGAN, encoder layers "
                             "+ the one decoder layer (restriction ii)")
    size_g: int = setting(1600, "paper", "Table 1: width of every hidden layer of G (constant "
                          "width is a choice: the paper is silent)")
    size_d: int = setting(1024, "paper", "Table 1: width of every hidden layer of D; the EBGAN "
                          "code is this wide")
    dropout_d: bool = setting(False, "paper", "Table 1: whether D uses dropout")
    # --- Architecture (Appendix C as recalled, paper.md §2.3) ---
    image_size: int = setting(32, "recalled", "MNIST padded to 32x32 (the Fig. 10 caption "
                              "implies a padded version)")
    noise_dim: int = setting(100, "choice", "the latent size is not given; 100 as in DCGAN")
    batch_norm: bool = setting(True, "recalled", "after each weight layer except G's output and "
                               "D's input layer (Appendix C)")
    activation: str = setting("relu", "recalled", "ReLU (Appendix C)")
    g_init_stddev: float = setting(0.02, "recalled", "G weights ~ N(0, 0.02) (Appendix C)")
    d_init_stddev: float = setting(0.002, "recalled", "D weights ~ N(0, 0.002) (Appendix C)")
    dropout_rate: float = setting(0.5, "choice", "the paper gives no rate; 0.5 is the classic "
                                  "fully connected rate")
    code_activation: str = setting("relu", "choice", "the encoder output (the PT's code) goes "
                                   "through ReLU like every hidden layer")

    def __post_init__(self):
        super().__post_init__()
        if self.n_layer_g < 1 or self.n_layer_d < (2 if self.is_ebgan else 1):
            raise ValueError(f"too few layers: nLayerG={self.n_layer_g}, nLayerD={self.n_layer_d}")

    def paper_settings(self) -> dict:
        """The Table 1 settings under the paper's column names."""
        return {paper: getattr(self, field) for field, paper in PAPER_NAMES.items()}

    @property
    def readable_name(self) -> str:
        return (f"{self.kind}-g{self.n_layer_g}x{self.size_g}-d{self.n_layer_d}x{self.size_d}"
                f"{'-drop' if self.dropout_d else ''}-{self.optim_d}-{self.optim_g}-lr{self.lr:g}"
                f"-s{self.seed}")

    @property
    def trial_id(self) -> str:
        """A stable id: readable prefix + hash of every setting, so any change is a new trial."""
        return stable_id(self.readable_name, self.id_dict())


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
