"""K MNIST-study trials trained as one model: `PackedAdversarialModel`, its fused per-trial
optimizers and trackers.

Every trial of a pack has the same networks' shapes (`pack_key`); what differs per trial rides
along as a vector: optimizer (Adam or SGD), learning rate, momentum and its dampening, betas,
dropout rate, margin, pulling-away weight. The train step is `models.AdversarialModel`'s (one D
update, then one G update through the updated D, one G forward pass shared by both) with the
paper's losses from `ebgan_tf.losses` applied per trial; the loss optimised is the sum over
trials of each trial's own loss, so each trial's gradient is its own. The optimizers replicate
Keras's Adam and SGD (and `models.TorchSGD`) update formulas element for element, with per-trial
hyperparameters; a trial that diverges is retired (`retire(k)`: its weights stop changing) and
the others train on.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ebgan_tf import losses
from ebgan_tf.networks.packed_mlp import PackedDiscriminator, PackedGenerator

# Settings that may differ between the trials of one pack; every other setting is shared.
PER_TRIAL_FIELDS = ("kind", "lr", "optim_d", "optim_g", "adam_beta1", "adam_beta2",
                    "sgd_momentum", "sgd_dampening", "dropout_d", "margin", "pt_weight",
                    "g_init_stddev", "d_init_stddev")
_ADAM_EPSILON = 1e-7  # Keras's default, which the unpacked models use.


def pack_key(cfg) -> tuple | None:
    """Trials with equal keys can share a pack; None: this config cannot be packed."""
    family = "ebgan" if cfg.is_ebgan else "gan"
    shared = {k: v for k, v in cfg.to_dict().items() if k not in PER_TRIAL_FIELDS}
    return (family, tuple(sorted(shared.items())))


def _vector(values, dtype=tf.float32):
    return tf.constant(values, dtype)


def _per_trial(vector, rank: int):
    """A [K] vector shaped to broadcast against [K, ...] of the given rank."""
    return tf.reshape(vector, [-1] + [1] * (rank - 1))


class PackedOptimizer:
    """Adam and SGD for K trials' variables [K, ...]: per-trial optimizer, lr, momentum, betas.

    Each element follows exactly the arithmetic of `keras.optimizers.Adam` / `SGD.update_step`
    (the same operations in the same order, the same float32 constants), so a packed trial's
    update is its unpacked update up to the round-off of the gradients themselves.
    """

    def __init__(self, configs, which: str, variables):
        self.is_adam = [getattr(c, f"optim_{which}") == "adam" for c in configs]
        self.lr = _vector([c.lr for c in configs])
        self.beta_1 = _vector([c.adam_beta1 for c in configs])
        self.beta_2 = _vector([c.adam_beta2 for c in configs])
        # Computed in double, then rounded, as Keras's `1 - self.beta_1` is.
        self.one_minus_beta_1 = _vector([1 - c.adam_beta1 for c in configs])
        self.one_minus_beta_2 = _vector([1 - c.adam_beta2 for c in configs])
        self.momentum = _vector([c.sgd_momentum for c in configs])
        self.uses_momentum = any(c.sgd_momentum for c in configs)
        # Torch-damped momentum (models.TorchSGD) scales the gradient by 1-m after the first
        # step; undamped trials by 1 (lr * 1 is lr exactly, so their numbers are unchanged).
        self.later_sgd_scale = _vector(
            [1 - c.sgd_momentum if c.sgd_dampening == "torch" else 1.0 for c in configs])
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name=f"{which}_iterations")
        self.variables = list(variables)
        zeros = lambda v, name: tf.Variable(tf.zeros_like(v), trainable=False, name=name)  # noqa: E731
        self.m = [zeros(v, "m") for v in self.variables] if any(self.is_adam) else []
        self.v = [zeros(v, "v") for v in self.variables] if any(self.is_adam) else []
        self.sgd_m = ([zeros(v, "sgd_m") for v in self.variables] if self.uses_momentum else [])

    def state(self) -> dict:
        return {"iterations": self.iterations, "m": self.m, "v": self.v, "sgd_m": self.sgd_m}

    def apply(self, gradients, alive) -> None:
        """One update of every trial; a trial not `alive` ([K] bool) gets a zero step."""
        local_step = tf.cast(self.iterations + 1, tf.float32)
        beta_1_power = tf.pow(self.beta_1, local_step)
        beta_2_power = tf.pow(self.beta_2, local_step)
        # A retired trial's step sizes are 0: its weights stay where it diverged (multiplying
        # the rate, not selecting afterwards, saves a pass over every weight).
        live = tf.cast(alive, tf.float32)
        lr = self.lr * live
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        sgd_lr = lr * tf.where(self.iterations == 0, tf.ones_like(lr), self.later_sgd_scale)
        is_adam = _vector(self.is_adam, tf.bool)
        for i, (variable, gradient) in enumerate(zip(self.variables, gradients)):
            rank = len(variable.shape)
            shaped = lambda x: _per_trial(x, rank)  # noqa: E731
            new = None
            if any(self.is_adam):
                m, v = self.m[i], self.v[i]
                m.assign_add((gradient - m) * shaped(self.one_minus_beta_1))
                v.assign_add((tf.square(gradient) - v) * shaped(self.one_minus_beta_2))
                new = variable - (m * shaped(alpha)) / (tf.sqrt(v) + _ADAM_EPSILON)
            if not all(self.is_adam):
                if self.uses_momentum:
                    buffer = self.sgd_m[i]
                    buffer.assign(buffer * shaped(self.momentum) - gradient * shaped(sgd_lr))
                    sgd = variable + buffer
                else:
                    sgd = variable - gradient * shaped(lr)
                new = sgd if new is None else tf.where(shaped(is_adam), new, sgd)
            variable.assign(new)
        self.iterations.assign_add(1)


class PerTrialMean(keras.metrics.Metric):
    """A Keras `Mean` for each of K trials: update with [K] values, result [K]."""

    def __init__(self, num_trials: int, name: str):
        super().__init__(name=name)
        self.total = self.add_variable(shape=(num_trials,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values):
        self.total.assign_add(tf.cast(values, tf.float32))
        self.count.assign_add(1.0)

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(tf.zeros_like(self.total))
        self.count.assign(0.0)


def _average_per_trial(per_example):
    """[K, B] -> [K]: each trial's `tf.nn.compute_average_loss` (sum over the global batch)."""
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    global_batch = tf.cast(tf.shape(per_example)[1] * replicas, per_example.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(per_example, axis=1), global_batch)


class PackedAdversarialModel(keras.Model):
    """K EBGAN / EBGAN-PT trials, or K GAN trials, of one `pack_key`.

    A batch is `(images [B, ...], noise [B, noise_dim])`, shared by every trial (the trials of a
    pack share their seed, so their unpacked runs see the same batches and latents).
    """

    def __init__(self, configs, **kwargs):
        super().__init__(**kwargs)
        keys = {pack_key(c) for c in configs}
        if len(keys) != 1:
            raise ValueError("the trials of a pack must share every setting but "
                             f"{PER_TRIAL_FIELDS}")
        self.configs = list(configs)
        self.num_trials = k = len(configs)
        cfg = configs[0]
        self.is_ebgan, self.energy_reduction, self.hinge = cfg.is_ebgan, cfg.energy_reduction, cfg.hinge
        self.pt_squared, self.stop_gradient_target = cfg.pt_squared, cfg.stop_gradient_target
        self.gan_loss = cfg.gan_loss
        self.generator = PackedGenerator(cfg, k, name="generator")
        self.discriminator = PackedDiscriminator(
            cfg, [c.dropout_rate if c.dropout_d else 0.0 for c in configs], name="discriminator")
        self.margins = _vector([c.margin for c in configs])
        self.pt_weights = _vector([c.effective_pt_weight for c in configs])
        self.uses_pt = any(c.effective_pt_weight for c in configs)
        self.alive = tf.Variable(tf.ones([k], tf.bool), trainable=False, name="alive")
        names = (("d_loss", "g_loss", "real_energy", "fake_energy", "pt", "hinge_active")
                 if self.is_ebgan
                 else ("d_loss", "g_loss", "real_prob", "fake_prob"))
        self.trackers = {name: PerTrialMean(k, name) for name in names}
        self.built = True

    # Keras turns XLA off under op determinism ("not all ops are supported"). The packed step uses
    # only batched products, element-wise ops, reductions and stateless random numbers, which
    # XLA compiles deterministically on a given machine; tests/test_packing.py checks that two
    # runs are bitwise equal, instead of assuming it. So `jit_compile=True` is taken as asked.
    @property
    def jit_compile(self):
        return bool(self._jit_compile)

    @jit_compile.setter
    def jit_compile(self, value):
        self._jit_compile = value

    def compile(self, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = PackedOptimizer(self.configs, "d",
                                           self.discriminator.trainable_variables)
        self.g_optimizer = PackedOptimizer(self.configs, "g", self.generator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def load_trial(self, k: int, generator: keras.Model, discriminator: keras.Model) -> None:
        """Trial k starts from these unpacked networks' weights (and dropout seed states)."""
        self.generator.stack.load_trial(k, generator)
        self.discriminator.load_trial(k, discriminator)

    def retire(self, k: int) -> None:
        """Trial k diverged: its weights stop changing; the others train on."""
        self.alive.assign(tf.tensor_scatter_nd_update(self.alive, [[k]], [False]))

    def generate(self, noise, training=False):
        """noise [K, B, noise_dim] (or [B, noise_dim], shared) -> images [K, B, S, S, 1]."""
        if len(noise.shape) == 2:
            noise = tf.broadcast_to(noise, [self.num_trials, *noise.shape])
        return self.generator(noise, training=training)

    def train_step(self, data):
        real, noise = data
        real = tf.broadcast_to(real[None], tf.concat([[self.num_trials], tf.shape(real)], 0))
        with tf.GradientTape() as g_tape:
            fake = self.generate(noise, training=True)
            with g_tape.stop_recording():
                d_logs = self._discriminator_update(real, fake)
            g_loss, g_logs = self._generator_loss(fake)
            g_total = tf.reduce_sum(tf.where(self.alive, g_loss, 0.0))
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply(g_tape.gradient(g_total, g_variables), self.alive)
        for name, value in {**d_logs, **g_logs}.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _energy(self, images):
        """[K, B] energies and [K, B, code] codes of images [K, B, S, S, 1]."""
        reconstruction, code = self.discriminator(images, training=True)
        flat = lambda x: tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))  # noqa: E731
        energy = losses.autoencoder_energy(flat(images), flat(reconstruction),
                                           self.energy_reduction, self.stop_gradient_target)
        return tf.reshape(energy, tf.shape(images)[:2]), code

    def _discriminator_update(self, real, fake):
        d_variables = self.discriminator.trainable_variables
        with tf.GradientTape() as d_tape:
            if self.is_ebgan:
                real_energy, _ = self._energy(real)
                fake_energy, _ = self._energy(fake)
                per_example = losses.ebgan_discriminator_loss(
                    real_energy, fake_energy, self.margins[:, None], self.hinge)
                logs = {"real_energy": tf.reduce_mean(real_energy, axis=1),
                        # As the unpacked EBGAN logs it: P[D(G(z)) < m] per trial.
                        "hinge_active": tf.reduce_mean(tf.cast(
                            fake_energy < self.margins[:, None], tf.float32), axis=1)}
            else:
                real_logits = self.discriminator(real, training=True)
                fake_logits = self.discriminator(fake, training=True)
                per_example = tf.reshape(losses.gan_discriminator_loss(real_logits, fake_logits),
                                         tf.shape(real_logits))
                logs = {"real_prob": tf.reduce_mean(tf.sigmoid(real_logits), axis=1)}
            d_total = tf.reduce_sum(tf.where(self.alive, _average_per_trial(per_example), 0.0))
        self.d_optimizer.apply(d_tape.gradient(d_total, d_variables), self.alive)
        return {"d_loss": tf.reduce_mean(per_example, axis=1), **logs}

    def _generator_loss(self, fake):
        if not self.is_ebgan:
            logits = self.discriminator(fake, training=True)
            per_example = tf.reshape(losses.gan_generator_loss(logits, self.gan_loss),
                                     tf.shape(logits))
            return _average_per_trial(per_example), {
                "g_loss": tf.reduce_mean(per_example, axis=1),
                "fake_prob": tf.reduce_mean(tf.sigmoid(logits), axis=1)}
        fake_energy, code = self._energy(fake)
        loss = _average_per_trial(losses.ebgan_generator_loss(fake_energy))
        pt = tf.zeros([self.num_trials])
        if self.uses_pt:
            replicas = tf.distribute.get_replica_context().num_replicas_in_sync
            codes = code
            if replicas > 1:
                codes = tf.distribute.get_replica_context().all_gather(code, axis=1)
            pt = losses.pulling_away_term(codes, squared=self.pt_squared, batch_dims=1)
            loss += self.pt_weights * pt / replicas
        mean_fake_energy = tf.reduce_mean(fake_energy, axis=1)
        pt = tf.where(self.pt_weights > 0, pt, 0.0)  # Logged as the unpacked EBGAN logs it.
        return loss, {"g_loss": mean_fake_energy + self.pt_weights * pt,
                      "fake_energy": mean_fake_energy, "pt": pt}
