"""The convolutional figures' models (paper §4.3, §4.4): architectures in the paper's notation,
`ConvConfig`, one DCGAN / EBGAN / EBGAN-PT model and how it is trained, and `Preprocessing`, how
an image file becomes a training image.

"(64)4c2s" means a convolution with 64 output maps, a 4×4 kernel and stride 2; "(1024)4c" has
stride 1. The architectures are data here (no TensorFlow needed to read them);
`ebgan_tf.networks.conv` turns the strings into layers, so what is built can be checked against
the paper line by line.
"""

from __future__ import annotations

import dataclasses
import math
import re

from ebgan_tf.configs.adversarial import AdversarialConfig
from ebgan_tf.configs.settings import setting

# --- The architectures, in the paper's notation -------------------------------------------------

# 64×64 (LSUN, CelebA; paper.md §4.2). The generator is DCGAN's (100 -> 4×4×1024 -> ... -> 3), as in
# the third-party port that matches the recalled discriminator (1Konny/EBGAN-pytorch).
GENERATOR_64 = ("(1024)4c", "(512)4c2s", "(256)4c2s", "(128)4c2s", "(3)4c2s")
NOISE_PLANES_64 = (100,)
ENCODER_64 = ("(64)4c2s", "(128)4c2s", "(256)4c2s")
DECODER_64 = ("(128)4c2s", "(64)4c2s", "(3)4c2s")

# ImageNet 128×128 (paper.md §5.3, recalled).
GENERATOR_128 = ("(1024)4c", "(512)4c2s", "(256)4c2s", "(128)4c2s", "(64)4c2s", "(64)4c2s", "(3)3c")
NOISE_PLANES_128 = (100, 64, 32, 16, 8, 4)
# ImageNet 256×256 (paper.md §5.3, recalled): one more doubling; same auto-encoder as 128.
GENERATOR_256 = ("(2048)4c", "(1024)4c2s", "(512)4c2s", "(256)4c2s", "(128)4c2s", "(64)4c2s",
                 "(64)4c2s", "(3)3c")
NOISE_PLANES_256 = (100, 64, 32, 16, 8, 4, 2)
ENCODER_IMAGENET = ("(64)4c2s", "(128)4c2s", "(256)4c2s", "(512)4c2s")
DECODER_IMAGENET = ("(256)4c2s", "(128)4c2s", "(64)4c2s", "(3)4c2s")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One image size's generator, auto-encoder and noise layout, in the paper's notation."""

    image_size: int
    generator: tuple[str, ...]
    noise_planes: tuple[int, ...]
    encoder: tuple[str, ...]
    decoder: tuple[str, ...]
    source: str  # Where the auto-encoder and noise layout come from, for the report.
    generator_source: str

    @property
    def dcgan_discriminator(self) -> tuple[str, ...]:
        """DCGAN's rule: widths 64, 128, ... while halving the resolution down to 4×4, then a logit."""
        n_down = int(math.log2(self.image_size // 4))
        return tuple(f"({64 * 2 ** i})4c2s" for i in range(n_down)) + ("(1)4c",)


ARCHITECTURES = {
    "dcgan64": Architecture(64, GENERATOR_64, NOISE_PLANES_64, ENCODER_64, DECODER_64,
                            "Appendix C as recalled (paper.md §4.2)",
                            "'DCGAN-style' (paper.md §4.2); DCGAN's layout, a choice"),
    "imagenet128": Architecture(128, GENERATOR_128, NOISE_PLANES_128, ENCODER_IMAGENET,
                                DECODER_IMAGENET, "Appendix C as recalled (paper.md §5.3)",
                                "Appendix C as recalled (paper.md §5.3)"),
    "imagenet256": Architecture(256, GENERATOR_256, NOISE_PLANES_256, ENCODER_IMAGENET,
                                DECODER_IMAGENET, "Appendix C as recalled (paper.md §5.3)",
                                "Appendix C as recalled (paper.md §5.3)"),
}

_SPEC = re.compile(r"^\((\d+)\)(\d+)c(?:(\d+)s)?$")


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    filters: int
    kernel: int
    stride: int


def parse_spec(spec: str) -> ConvSpec:
    """"(64)4c2s" -> ConvSpec(filters=64, kernel=4, stride=2); "(3)3c" -> stride 1."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise ValueError(f"not a layer in the paper's notation '(maps)KcSs': {spec!r}")
    filters, kernel, stride = match.groups()
    return ConvSpec(int(filters), int(kernel), int(stride or 1))


def noise_dim(noise_planes, image_size_at_layers) -> int:
    """Length of the flat noise vector: z plus every plane at its layer's resolution."""
    return sum(p * s * s for p, s in zip(noise_planes, image_size_at_layers))


def generator_input_sizes(generator_specs) -> list[int]:
    """Spatial size of the input of each generator layer: 1, 4, 8, ..."""
    sizes, size = [], 1
    for i, spec in enumerate(map(parse_spec, generator_specs)):
        sizes.append(size)
        size = spec.kernel if i == 0 else size * spec.stride
    return sizes


def residual_rms(margin: float, image_size: int, channels: int = 3) -> float:
    """The per-value RMS residual r a margin stands for under eq. 13's L2 energy:
    D(x) = r · √(H·W·C) (docs/margin_scaling.md)."""
    return margin / math.sqrt(image_size * image_size * channels)


def margin_for(rms: float, image_size: int, channels: int = 3) -> float:
    """The margin that stands for the per-value RMS residual `rms` at this size: the inverse of
    `residual_rms`, so a margin carries over between sizes as m · √(pixels × channels)."""
    return rms * math.sqrt(image_size * image_size * channels)


def hidden_width(filters: int, is_output: bool, width_divisor: int) -> int:
    """A layer's output maps: smoke runs shrink every hidden width; an output keeps its count
    (the image's channels, or one logit)."""
    return filters if is_output else max(1, filters // width_divisor)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a decoded uint8 image becomes a float32 [S, S, 3] training image in [-1, 1]
    (`ebgan_tf.data.images.preprocess`).

    crop_size: None takes the largest central square; an int takes a central crop of that size
      (clipped to the image), e.g. 108 for aligned CelebA faces.
    load_size: None resizes the crop to `image_size`; an int resizes it to `load_size` and then
      takes a random `image_size` crop (LSUN augmented patches: 96 -> 64).
    """

    image_size: int = 64
    crop_size: int | None = None
    load_size: int | None = None

    def __post_init__(self):
        if self.load_size is not None and self.load_size < self.image_size:
            raise ValueError(f"load_size {self.load_size} is smaller than image_size "
                             f"{self.image_size}")

    def describe(self) -> str:
        crop = f"central {self.crop_size}×{self.crop_size} crop" if self.crop_size else \
            "largest central square"
        if self.load_size:
            return (f"{crop}, resized to {self.load_size}×{self.load_size}, then a random "
                    f"{self.image_size}×{self.image_size} crop per example")
        return f"{crop}, resized to {self.image_size}×{self.image_size}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ConvConfig(AdversarialConfig):
    """One convolutional DCGAN / EBGAN / EBGAN-PT model and how it is trained."""

    KINDS = ("dcgan", "ebgan", "ebgan_pt")

    kind: str = setting("ebgan_pt", "run", "dcgan (the baseline), ebgan or ebgan_pt")
    architecture: str = setting("dcgan64", "recalled", "a key of ARCHITECTURES: the networks of "
                                "Appendix C as recalled")
    margin: float = setting(80.0, "recalled", "80 LSUN, 20 CelebA, 40 ImageNet-128, 80 -256 "
                            "(Appendix C as recalled, not verified)")
    optim_d: str = setting("adam", "choice", "DCGAN's Adam for every model: the paper gives no "
                           "optimiser for the convolutional experiments")
    optim_g: str = setting("adam", "choice", "DCGAN's Adam for every model: the paper gives no "
                           "optimiser for the convolutional experiments")
    lr: float = setting(2e-4, "choice", "DCGAN's Adam settings for every model: the paper gives "
                        "none for the convolutional experiments")
    batch_size: int = setting(64, "choice", "the global batch; the paper gives none: DCGAN's 64, "
                              "smaller at cpu scale for 128 and 256 pixel images (time, memory)")
    train_steps: int = setting(1000, "run", "one step is one D update and one G update")
    width_divisor: int = setting(1, "run", "divides every hidden width; > 1 only for smoke runs")
    init_stddev: float = setting(0.02, "choice", "weights ~ N(0, 0.02) (DCGAN guidance)")
    leaky_slope: float = setting(0.2, "choice", "LeakyReLU(0.2) in the encoder and the DCGAN "
                                 "discriminator (DCGAN guidance)")

    def __post_init__(self):
        super().__post_init__()
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, "
                             f"got {self.architecture!r}")
        if self.width_divisor < 1:
            raise ValueError(f"width_divisor must be >= 1, got {self.width_divisor}")

    @property
    def arch(self) -> Architecture:
        return ARCHITECTURES[self.architecture]

    @property
    def image_size(self) -> int:
        return self.arch.image_size

    @property
    def noise_dim(self) -> int:
        """Length of the generator's flat noise input (z and every noise plane)."""
        return noise_dim(self.arch.noise_planes, generator_input_sizes(self.arch.generator))
