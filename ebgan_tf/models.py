"""EBGAN, EBGAN-PT and GAN as Keras models whose `train_step` is one D update then one G update.

Each model owns both networks, both optimizers and its `keras.metrics.Mean` trackers, and trains
with `fit()`. A batch is either `images` or `(images, noise)`: noise that comes with the data (see
`ebgan_tf.data.streams`) makes a step independent of how it is split over replicas;
without it the model draws z ~ N(0, I) from its own seed generator.

One generator forward pass serves both updates: the fake batch G(z) is scored by D for D's update
(no gradient to G), then re-scored by the updated D for G's update, with gradients flowing back
through the same forward pass (as PyTorch's DCGAN example reuses `fake`). The same z therefore
feeds both updates; the paper does not say otherwise.

Under `tf.distribute`, Keras's TF optimizer sums gradients over replicas, so per-example losses
are reduced with the global batch size (`tf.nn.compute_average_loss`) and batch-level terms
are divided by the number of replicas.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ebgan_tf import losses
from ebgan_tf.networks import build_networks


def _num_replicas() -> int:
    return tf.distribute.get_replica_context().num_replicas_in_sync


def _gather_over_replicas(values):
    """Concatenates a per-replica batch over replicas; gradients flow back to each replica."""
    context = tf.distribute.get_replica_context()
    if context.num_replicas_in_sync == 1:
        return values
    return context.all_gather(values, axis=0)


class AdversarialModel(keras.Model):
    """Shared skeleton: the two networks, optimizers, noise and the D-then-G `train_step`.

    Subclasses define `discriminator_loss(real, fake)` and `generator_loss(fake)`, each returning
    a loss already reduced for replicas (`tf.nn.compute_average_loss`) and what to log; D's
    logged tensors are reduced by `discriminator_logs` once both updates are done.
    """

    tracker_names: tuple[str, ...] = ("d_loss", "g_loss")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.noise_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.tracker_names}
        # Both networks are built; without this, fit() would trace `call` on the training data.
        self.built = True

    def compile(self, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Slot variables are created here, in the strategy scope, not lazily inside a replica.
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, noise, training=False):
        return self.generator(noise, training=training)

    def sample_noise(self, batch_size):
        return keras.random.normal((batch_size, self.noise_dim), seed=self.seed_generator)

    def _unpack(self, data):
        # Keras hands batches over as (x, y, sample_weight); the noise rides in the `y` slot.
        images, noise, _ = keras.utils.unpack_x_y_sample_weight(data)
        if noise is None:
            noise = self.sample_noise(tf.shape(images)[0])
        return images, noise

    def train_step(self, data):
        real, noise = self._unpack(data)
        with tf.GradientTape() as g_tape:
            fake = self.generator(noise, training=True)
            # D's update is not part of G's gradient: keep it off G's tape.
            with g_tape.stop_recording():
                d_terms = self._discriminator_update(real, fake)
            g_loss, g_logs = self.generator_loss(fake)
            scaled_g_loss = self.g_optimizer.scale_loss(g_loss)
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply(g_tape.gradient(scaled_g_loss, g_variables), g_variables)
        for name, value in {**self.discriminator_logs(d_terms), **g_logs}.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _discriminator_update(self, real, fake):
        with tf.GradientTape() as d_tape:
            d_loss, terms = self.discriminator_loss(real, fake)
            scaled_d_loss = self.d_optimizer.scale_loss(d_loss)
        d_variables = self.discriminator_variables()
        self.d_optimizer.apply(d_tape.gradient(scaled_d_loss, d_variables), d_variables)
        return terms

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def checkpoint_objects(self) -> dict:
        """What a `tf.train.Checkpoint` of a training run holds (`ebgan_tf.runs.train`)."""
        return {"generator": self.generator, "discriminator": self.discriminator,
                "d_optimizer": self.d_optimizer, "g_optimizer": self.g_optimizer}

    def discriminator_loss(self, real, fake):
        """(D's loss, already reduced for replicas; the tensors D's logs are made of)."""
        raise NotImplementedError

    def discriminator_logs(self, terms: dict) -> dict:
        """D's logged scalars, made after both updates: the batch mean of each term."""
        return {name: tf.reduce_mean(value) for name, value in terms.items()}

    def generator_loss(self, fake):
        """(G's loss, already reduced for replicas; its logged scalars)."""
        raise NotImplementedError


class EBGAN(AdversarialModel):
    """Energy-based GAN with an auto-encoder discriminator (paper §2), optionally with the PT.

    Args:
      generator: z [B, noise_dim] -> images.
      discriminator: images -> [reconstruction, code] (see `networks.build_mlp_autoencoder`).
      margin: m of eq. 1.
      pt_weight: weight of the pulling-away term in G's loss (0 = plain EBGAN; 0.1 = EBGAN-PT).
      energy_reduction, hinge, pt_squared, stop_gradient_target: see `ebgan_tf.losses`; the
        defaults are the paper's.
    """

    # hinge_active: P[D(G(z)) < m] over D's fake batch, the fraction of fakes the hinge of eq. 1
    # still pushes up (per sample, whatever `hinge`); a log only, last so no column moves.
    tracker_names = ("d_loss", "g_loss", "real_energy", "fake_energy", "pt", "hinge_active")

    def __init__(self, generator, discriminator, margin: float = 10.0, pt_weight: float = 0.0,
                 energy_reduction: str = "l2", hinge: str = "per_sample", pt_squared: bool = True,
                 stop_gradient_target: bool = False, seed: int | None = None, **kwargs):
        super().__init__(generator, discriminator, seed=seed, **kwargs)
        self.margin = float(margin)
        self.pt_weight = float(pt_weight)
        self.energy_reduction = energy_reduction
        self.hinge = hinge
        self.pt_squared = pt_squared
        self.stop_gradient_target = stop_gradient_target

    def energy(self, images):
        """D(x) [B] and the encoder code [B, code_dim]."""
        reconstruction, code = self.discriminator(images, training=True)
        energy = losses.autoencoder_energy(images, reconstruction, self.energy_reduction,
                                           self.stop_gradient_target)
        return energy, code

    def discriminator_loss(self, real, fake):
        # Real and fake go through D separately, so batch norm sees pure batches (DCGAN practice).
        real_energy, _ = self.energy(real)
        fake_energy, _ = self.energy(fake)
        per_example = losses.ebgan_discriminator_loss(real_energy, fake_energy, self.margin,
                                                      self.hinge)
        return tf.nn.compute_average_loss(per_example), {
            "d_loss": per_example, "real_energy": real_energy,
            "hinge_active": tf.cast(fake_energy < self.margin, tf.float32)}

    def generator_loss(self, fake):
        fake_energy, code = self.energy(fake)
        loss = tf.nn.compute_average_loss(losses.ebgan_generator_loss(fake_energy))
        pt = tf.zeros([])
        if self.pt_weight:
            # The PT is a statistic of the whole global batch: gather codes from all replicas,
            # then count the term once in total (each replica adds 1/R of it).
            pt = losses.pulling_away_term(_gather_over_replicas(code), squared=self.pt_squared)
            loss += self.pt_weight * pt / _num_replicas()
        mean_fake_energy = tf.reduce_mean(fake_energy)
        logs = {"g_loss": mean_fake_energy + self.pt_weight * pt,
                "fake_energy": mean_fake_energy, "pt": pt}
        return loss, logs


class GAN(AdversarialModel):
    """The GAN baseline: a logit discriminator with the standard cross-entropy losses."""

    tracker_names = ("d_loss", "g_loss", "real_prob", "fake_prob")

    def __init__(self, generator, discriminator, gan_loss: str = "non_saturating",
                 seed: int | None = None, **kwargs):
        super().__init__(generator, discriminator, seed=seed, **kwargs)
        self.gan_loss = gan_loss

    def discriminator_loss(self, real, fake):
        real_logits = self.discriminator(real, training=True)
        fake_logits = self.discriminator(fake, training=True)
        per_example = losses.gan_discriminator_loss(real_logits, fake_logits)
        return tf.nn.compute_average_loss(per_example), {"d_loss": per_example,
                                                         "real_prob": tf.sigmoid(real_logits)}

    def generator_loss(self, fake):
        fake_logits = self.discriminator(fake, training=True)
        per_example = losses.gan_generator_loss(fake_logits, self.gan_loss)
        logs = {"g_loss": tf.reduce_mean(per_example),
                "fake_prob": tf.reduce_mean(tf.sigmoid(fake_logits))}
        return tf.nn.compute_average_loss(per_example), logs


@keras.saving.register_keras_serializable(package="ebgan_tf")
class TorchSGD(keras.optimizers.SGD):
    """SGD with Torch7 `optim.sgd`'s momentum, whose dampening defaults to the momentum m: the
    buffer averages the gradients (buf = g at the first step, then m*buf + (1-m)*g) and the step
    is lr*buf, so momentum does not enlarge the step by 1/(1-m) as Keras's undamped SGD does.

    Written in Keras's buffer form (b = -lr*buf, variable += b): b = m*b - lr*s*g with s = 1 at
    the first step (b is still 0, so b = -lr*g) and s = 1-m after; `packed.PackedOptimizer` does
    the same arithmetic, so packed and unpacked trials agree up to round-off."""

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        learning_rate = keras.ops.cast(learning_rate, dtype)
        gradient = keras.ops.cast(gradient, dtype)
        buffer = self.momentums[self._get_variable_index(variable)]
        # Keras increments `iterations` after the update: 0 during the first step.
        scale = keras.ops.where(keras.ops.equal(self.iterations, 0), keras.ops.cast(1.0, dtype),
                                keras.ops.cast(1 - self.momentum, dtype))
        self.assign(buffer, keras.ops.subtract(
            keras.ops.multiply(buffer, keras.ops.cast(self.momentum, dtype)),
            keras.ops.multiply(gradient, keras.ops.multiply(learning_rate, scale))))
        self.assign_add(variable, buffer)


def make_optimizer(name: str, lr: float, adam_beta1: float = 0.5, adam_beta2: float = 0.999,
                   sgd_momentum: float = 0.0,
                   sgd_dampening: str = "keras") -> keras.optimizers.Optimizer:
    if name == "adam":
        optimizer = keras.optimizers.Adam(lr, beta_1=adam_beta1, beta_2=adam_beta2)
    elif name == "sgd":
        if sgd_dampening not in ("keras", "torch"):
            raise ValueError(f"sgd_dampening must be 'keras' or 'torch', got {sgd_dampening!r}")
        sgd = TorchSGD if sgd_dampening == "torch" else keras.optimizers.SGD
        optimizer = sgd(lr, momentum=sgd_momentum)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def build_model(config, jit_compile: bool | str = False, steps_per_execution: int = 1):
    """Builds and compiles the model a configuration describes, in the current strategy scope.

    `config` is an `MLPConfig` or a `ConvConfig` (an EBGAN, EBGAN-PT or GAN on their networks),
    or a `LadderConfig` (an LN or EBGAN-LN, `ebgan_tf.ladder`). `steps_per_execution` > 1 runs
    that many train steps per call into the TF runtime (a graph loop), which saves Keras's
    per-step Python work; the steps, and their numbers, are the same.
    """
    from ebgan_tf.configs.ladder import LadderConfig

    if isinstance(config, LadderConfig):
        from ebgan_tf import ladder

        return ladder.build_model(config, jit_compile=jit_compile)
    generator, discriminator = build_networks(config)
    if config.is_ebgan:
        model = EBGAN(generator, discriminator, margin=config.margin,
                      pt_weight=config.effective_pt_weight,
                      energy_reduction=config.energy_reduction, hinge=config.hinge,
                      pt_squared=config.pt_squared,
                      stop_gradient_target=config.stop_gradient_target, seed=config.seed,
                      name=config.kind)
    else:
        model = GAN(generator, discriminator, gan_loss=config.gan_loss, seed=config.seed,
                    name=config.kind)
    optimizer_settings = dict(adam_beta1=config.adam_beta1, adam_beta2=config.adam_beta2,
                              sgd_momentum=config.sgd_momentum,
                              sgd_dampening=config.sgd_dampening)
    model.compile(d_optimizer=make_optimizer(config.optim_d, config.lr, **optimizer_settings),
                  g_optimizer=make_optimizer(config.optim_g, config.lr, **optimizer_settings),
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return model
