"""What every GAN / EBGAN / EBGAN-PT of the suite shares: the losses' settings, the optimisers and
the budget. `MLPConfig` (the MNIST study) and `ConvConfig` (the convolutional figures) extend it
with their networks, so a setting such as the margin or Adam's beta1 is declared once."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ebgan_tf.configs.settings import id_payload, setting

OPTIMIZERS = ("adam", "sgd")
SGD_DAMPENINGS = ("keras", "torch")
ENERGY_REDUCTIONS = ("l2", "mse", "sse")
HINGE_MODES = ("per_sample", "batch_mean")
GAN_LOSSES = ("non_saturating", "minimax")
EBGAN_KINDS = ("ebgan", "ebgan_pt")


@dataclasses.dataclass(frozen=True)
class AdversarialConfig:
    """One adversarial model (EBGAN, EBGAN-PT or the GAN baseline) and how it is optimised."""

    KINDS: ClassVar[tuple[str, ...]] = ("ebgan", "ebgan_pt", "gan")

    kind: str = setting("ebgan", "run", "ebgan, ebgan_pt (EBGAN with the pulling-away term) or "
                        "the GAN baseline")
    # --- EBGAN (paper §2) ---
    margin: float = setting(10.0, "paper", "m of eq. 1; 'set to 10 and not tuned' on MNIST (§4.1)")
    pt_weight: float = setting(0.1, "paper", "weight of the pulling-away term (§2.4, Appendix F); "
                               "used only by ebgan_pt")
    energy_reduction: str = setting("l2", "paper", "eq. 13 as written, the L2 norm of the "
                                    "residual; mse/sse are compared in docs/energy_scale.md")
    hinge: str = setting("per_sample", "paper", "eq. 1 hinges each sample; batch_mean "
                         "reproduces common ports")
    pt_squared: bool = setting(True, "paper", "eq. 14 squares the cosine; False reproduces ports "
                               "that sum unsquared cosines")
    stop_gradient_target: bool = setting(False, "paper", "the paper does not detach the "
                                         "auto-encoder's target; True reproduces ports that do")
    # --- GAN baseline ---
    gan_loss: str = setting("non_saturating", "choice", "the usual practical GAN loss")
    # --- Optimisation ---
    optim_d: str = setting("adam", "paper", "Table 1: EBGANs are restricted to Adam")
    optim_g: str = setting("adam", "paper", "Table 1: EBGANs are restricted to Adam")
    lr: float = setting(1e-3, "paper", "Table 1: EBGANs are restricted to lr 1e-3")
    adam_beta1: float = setting(0.5, "choice", "DCGAN's value; the paper follows DCGAN guidance "
                                "elsewhere")
    adam_beta2: float = setting(0.999, "choice", "Adam's default")
    sgd_momentum: float = setting(0.0, "choice", "Torch7 optim.sgd's default: plain SGD")
    sgd_dampening: str = setting("keras", "choice", "how momentum enters the step: keras, "
                                 "undamped (buf = m*buf + g; steady step lr/(1-m)); torch, Torch7 "
                                 "optim.sgd's default dampening = momentum (buf = m*buf + (1-m)*g, "
                                 "buf = g at the first step; docs/sgd_momentum.md). Inert at "
                                 "momentum 0", added_later=True)
    # --- Networks shared by both families ---
    decoder_activation: str = setting("linear", "choice", "an unbounded auto-encoder output, so "
                                      "energies can exceed large margins")
    sync_batch_norm: bool = setting(True, "choice", "batch statistics over the global batch "
                                    "under tf.distribute, so replicas change no number")
    # --- Budget ---
    batch_size: int = setting(64, "choice", "the paper gives no batch size")
    train_steps: int = setting(2000, "run", "one step is one D update and one G update; set per "
                               "scale")
    seed: int = setting(0, "run", "seeds weights, data order and latents")

    def __post_init__(self):
        checks = {"kind": self.KINDS, "optim_d": OPTIMIZERS, "optim_g": OPTIMIZERS,
                  "energy_reduction": ENERGY_REDUCTIONS, "hinge": HINGE_MODES,
                  "gan_loss": GAN_LOSSES, "sgd_dampening": SGD_DAMPENINGS}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.margin < 0:
            raise ValueError(f"margin must be non-negative, got {self.margin}")
        if self.train_steps < 1 or self.batch_size < 2:
            raise ValueError(f"train_steps must be >= 1 and batch_size >= 2, got "
                             f"{self.train_steps} and {self.batch_size}")

    @property
    def is_ebgan(self) -> bool:
        return self.kind in EBGAN_KINDS

    @property
    def effective_pt_weight(self) -> float:
        return self.pt_weight if self.kind == "ebgan_pt" else 0.0

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def id_dict(self) -> dict:
        """What run ids hash: `to_dict` less the settings added later, at their default."""
        return id_payload(self)
