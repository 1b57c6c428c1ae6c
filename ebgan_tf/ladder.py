"""The bottom-layer-cost Ladder Network (LN) and EBGAN-LN (paper §4.2, Table 2; paper.md §3).

The LN (Rasmus et al. 2015) on permutation-invariant MNIST: an MLP encoder 784-1000-500-250-250-250-10
run twice in the full ladder (corrupted and clean) and a decoder with lateral connections that
denoises every layer. The *bottom-layer-cost* variant (Pezeshki et al. 2015) keeps the whole
ladder architecture but only pays the denoising cost of the input layer, so

    C_LN = CE(y, corrupted_encoder(x_labelled)) + w * ||x - x_hat(x_tilde)||^2  (x unlabelled).

With only the bottom cost, the clean encoder contributes no training target (the clean z^(0) is x
itself), so training runs the corrupted encoder and the decoder only; the clean encoder classifies
at test time with population batch-norm statistics (`LadderNetwork.calibrate`).

EBGAN-LN uses the LN as the discriminator of an EBGAN (eqs. 1-2): its energy is the per-sample
denoising cost D(x) = w * ||x - x_hat(x_tilde)||^2, so D's loss is the LN's cost plus the hinge
[m - D(G(z))]^+ and G minimises D(G(z)). The margin m decays to 0 (the paper found its schedule by
search; here it is `margin_at`, a setting), after which EBGAN-LN is exactly an LN. The margin is
tied to the energy's scale: m_0 = factor x the mean real energy over an early window, measured
in-graph (`EBGANLadder.energy_scale`), since a fixed m_0 sits below the fakes' energies (the hinge
never engaged in the first port: issue 17). Every step logs how often the hinge acts
(`hinge_active` = P[D(G(z)) < m] over D's fake batch) and its mean (`hinge`).

The network is `ebgan_tf.networks.ladder`; here are the loss terms (pure functions; per-example
costs return shape [batch], reduced with the global batch size under `tf.distribute`), the margin
and lr schedules, and the two Keras models.
"""

from __future__ import annotations

import threading

import keras
import tensorflow as tf

from ebgan_tf import losses
from ebgan_tf.configs.ladder import LadderConfig
from ebgan_tf.models import AdversarialModel
# The pure loss terms live beside the network that computes them; re-exported as the LN's API.
from ebgan_tf.networks.ladder import (LadderNetwork, build_generator, denoising_cost,  # noqa: F401
                                      global_mean, vanilla_combinator)

# --- loss terms (pure functions) ----------------------------------------------------------------

def classification_cost(labels, logits):
    """Cross-entropy of the corrupted encoder's softmax on labelled examples.

    Args: labels: int [batch] in 0..C-1; logits: [batch, C]. Returns float32 [batch].
    """
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32))


def margin_at(step, start, decay_steps: int, begin: int = 0):
    """EBGAN-LN's margin schedule: 0 before `begin`, then a linear decay from `start` at step
    `begin` to 0 at `decay_steps`.

    Args: step: scalar (int or tensor); start: m_0 >= 0 (float or scalar tensor);
      decay_steps: the step m reaches 0 (<= begin: margin 0 always); begin: >= 0.
    Returns: float32 scalar m(step) = start * max(0, 1 - (step - begin) / (decay_steps - begin))
      for step >= begin, else 0.
    """
    if decay_steps <= begin:
        return tf.zeros([], tf.float32)
    step = tf.cast(step, tf.float32)
    progress = (step - float(begin)) / float(decay_steps - begin)
    started = tf.cast(step >= float(begin), tf.float32)
    return started * tf.cast(start, tf.float32) * tf.maximum(0.0, 1.0 - progress)


class LinearDecayTail(keras.optimizers.schedules.LearningRateSchedule):
    """Constant lr, then linear decay to 0 over the last `decay_fraction` of `total_steps` [3P]."""

    def __init__(self, lr: float, total_steps: int, decay_fraction: float):
        self.lr = float(lr)
        self.total_steps = int(total_steps)
        self.decay_start = int(round(total_steps * (1.0 - decay_fraction)))

    def __call__(self, step):
        span = max(self.total_steps - self.decay_start, 1)
        remaining = (float(self.total_steps) - tf.cast(step, tf.float32)) / float(span)
        return self.lr * tf.clip_by_value(remaining, 0.0, 1.0)

    def get_config(self):
        return {"lr": self.lr, "total_steps": self.total_steps,
                "decay_fraction": 1.0 - self.decay_start / max(self.total_steps, 1)}


# --- the network --------------------------------------------------------------------------------

class _LadderCost:
    """The LN's cost and update, shared by the LN and EBGAN-LN (which adds the hinge to it).

    A batch is a dict: `labelled` [B_l, 784], `labels` [B_l], `unlabelled` [B_u, 784] (and, for
    EBGAN-LN, `noise` [B_u, noise_dim])."""

    def ladder_costs(self, data):
        """Per-example CE on the labelled batch [B_l], denoising cost D(x) on the unlabelled
        [B_u], and the unlabelled batch's statistics inside the ladder."""
        class_cost = classification_cost(data["labels"],
                                         self.ladder.corrupted_logits(data["labelled"]))
        real_energy, moments = self.ladder.energy_and_moments(data["unlabelled"],
                                                              self.reconstruction_weight)
        return class_cost, real_energy, moments

    def _ladder_update(self, data):
        with tf.GradientTape() as tape:
            class_cost, real_energy, _ = self.ladder_costs(data)
            loss = tf.nn.compute_average_loss(class_cost) + tf.nn.compute_average_loss(real_energy)
        grads = tape.gradient(self.d_optimizer.scale_loss(loss), self.ladder.trainable_variables)
        self.d_optimizer.apply(grads, self.ladder.trainable_variables)
        return {"loss": tf.reduce_mean(class_cost) + tf.reduce_mean(real_energy),
                "class_cost": tf.reduce_mean(class_cost),
                "denoising_cost": tf.reduce_mean(real_energy)}

    def _update_trackers(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


class LadderClassifier(_LadderCost, keras.Model):
    """The LN baseline. One step: one Adam update of C_LN."""

    tracker_names: tuple[str, ...] = ("loss", "class_cost", "denoising_cost")

    def __init__(self, ladder: LadderNetwork, reconstruction_weight: float, **kwargs):
        super().__init__(**kwargs)
        self.ladder = ladder
        self.reconstruction_weight = float(reconstruction_weight)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.tracker_names}
        self.built = True

    def compile(self, d_optimizer: keras.optimizers.Optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        d_optimizer.build(self.ladder.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, x, training=False):
        return self.ladder.classify(x)

    def checkpoint_objects(self) -> dict:
        return {"ladder": self.ladder, "d_optimizer": self.d_optimizer}

    def train_step(self, data):
        return self._update_trackers(self._ladder_update(data))


class EBGANLadder(_LadderCost, AdversarialModel):
    """EBGAN-LN: the LN is the energy D; G is trained against it; the margin decays to 0.

    The margin: 0 for the first `margin_reference_steps` (K) steps, whose second half measures
    the real energy scale E_0 (the mean D(x), all replicas); then m_0 = `margin_factor` x E_0,
    decaying linearly to 0 at `margin_decay_steps`. K = 0 skips the measurement: E_0 = 1, so
    `margin_factor` is m_0 itself; `margin_factor` = 0 is the control (G trains, the hinge
    never acts). `fake_batch_stats`: "own" normalises fakes inside the ladder with the fake
    batch's statistics, "real" with the unlabelled batch's (then G's re-scoring recomputes them
    under the updated D: one more ladder pass on real data).

    The batch's `noise` (one z per unlabelled example) belongs to the data, so a step does not
    depend on how it is split over replicas. One step is `AdversarialModel`'s: one D (LN) update
    on C_LN + [m - D(G(z))]^+, then one G update on D(G(z)) re-scored by the updated D, with the
    same G forward pass. Once m = 0 for good the hinge vanishes and D's update is the LN's;
    `stop_adversarial()` then drops G's update, which no longer affects D.
    """

    tracker_names = ("loss", "class_cost", "denoising_cost", "fake_energy", "margin", "hinge",
                     "hinge_active", "g_loss")

    def __init__(self, ladder: LadderNetwork, generator: keras.Model, reconstruction_weight: float,
                 margin_factor: float, margin_decay_steps: int, margin_reference_steps: int = 0,
                 fake_batch_stats: str = "own", seed: int = 0, **kwargs):
        super().__init__(generator, ladder, seed=seed, **kwargs)
        self.ladder = ladder
        self.reconstruction_weight = float(reconstruction_weight)
        self.margin_factor = float(margin_factor)
        self.margin_decay_steps = int(margin_decay_steps)
        self.margin_reference_steps = int(margin_reference_steps)
        self.fake_batch_stats = fake_batch_stats
        self._replica = threading.local()
        # A variable, checkpointed with the run, so a run resumed after the window finds its
        # E_0; updated with the same all-reduced value in every replica.
        self.energy_scale = self.add_weight(
            shape=(), trainable=False, name="energy_scale", aggregation="only_first_replica",
            initializer=keras.initializers.Constant(0.0 if self.margin_reference_steps else 1.0))
        self.adversarial = True

    def call(self, x, training=False):
        return self.ladder.classify(x)

    def margin(self):
        return margin_at(self.d_optimizer.iterations, self.margin_factor * self.energy_scale,
                         self.margin_decay_steps, begin=self.margin_reference_steps)

    def stop_adversarial(self):
        """From now on train as a plain LN (call once the margin is 0); retraces the step."""
        self.adversarial = False
        self.make_train_function(force=True)

    def generate(self, noise):
        return self.generator(noise, training=False)

    def checkpoint_objects(self) -> dict:
        return {**super().checkpoint_objects(), "energy_scale": self.energy_scale}

    def _unpack(self, data):
        return data, data["noise"]

    def discriminator_variables(self):
        return self.ladder.trainable_variables

    def _measure_energy_scale(self, real_energy):
        """Adds this step's mean D(x) / window length to E_0 while in the window [K/2, K)."""
        if not self.margin_reference_steps:
            return
        end = self.margin_reference_steps
        start = end // 2
        step = self.d_optimizer.iterations
        in_window = tf.cast(tf.logical_and(step >= start, step < end), tf.float32)
        self.energy_scale.assign_add(in_window * global_mean(real_energy) / float(end - start))

    def discriminator_loss(self, data, fake):
        margin = self.margin()
        class_cost, real_energy, moments = self.ladder_costs(data)
        fake_energy = self.ladder.energy(fake, self.reconstruction_weight,
                                         moments if self.fake_batch_stats == "real" else None)
        self._measure_energy_scale(tf.stop_gradient(real_energy))
        # Eq. 1 with the LN's denoising cost as D(x), plus the LN's CE on labelled data.
        per_example = losses.ebgan_discriminator_loss(real_energy, fake_energy, margin)
        d_loss = tf.nn.compute_average_loss(class_cost) + tf.nn.compute_average_loss(per_example)
        return d_loss, {"class_cost": class_cost, "per_example": per_example,
                        "denoising_cost": real_energy, "fake_energy": fake_energy,
                        "margin": margin}

    def discriminator_logs(self, terms):
        class_cost = tf.reduce_mean(terms["class_cost"])
        fake_energy, margin = terms["fake_energy"], terms["margin"]
        return {"loss": class_cost + tf.reduce_mean(terms["per_example"]),
                "class_cost": class_cost,
                "denoising_cost": tf.reduce_mean(terms["denoising_cost"]),
                "fake_energy": tf.reduce_mean(fake_energy), "margin": margin,
                "hinge": tf.reduce_mean(tf.nn.relu(margin - fake_energy)),
                "hinge_active": tf.reduce_mean(tf.cast(fake_energy < margin, tf.float32))}

    def generator_loss(self, fake):
        moments = None
        if self.fake_batch_stats == "real":
            # The updated D's statistics of the real batch, as D's own update used them.
            _, moments = self.ladder.energy_and_moments(self._replica.unlabelled,
                                                        self.reconstruction_weight)
            moments = [tuple(tf.stop_gradient(m) for m in pair) for pair in moments]
        g_energy = self.ladder.energy(fake, self.reconstruction_weight, moments)
        return (tf.nn.compute_average_loss(losses.ebgan_generator_loss(g_energy)),
                {"g_loss": tf.reduce_mean(g_energy)})

    def train_step(self, data):
        if self.adversarial:
            # `AdversarialModel.train_step` hands G's loss only the fakes; "real" statistics
            # need the unlabelled batch too (a tensor of this same trace). Thread-local: a
            # MirroredStrategy traces its replicas in concurrent threads.
            self._replica.unlabelled = data["unlabelled"]
            return super().train_step(data)
        zeros = tf.zeros([])
        return self._update_trackers({**self._ladder_update(data), "fake_energy": zeros,
                                      "margin": zeros, "hinge": zeros, "hinge_active": zeros,
                                      "g_loss": zeros})


def build_model(cfg: LadderConfig, jit_compile: bool | str = False) -> LadderClassifier:
    """Builds and compiles an LN, EBGAN-LN or control for one configuration, in the current
    strategy scope."""
    ladder = LadderNetwork(cfg.layer_sizes, cfg.noise_std, seed=cfg.seed, name="ladder")

    def adam(lr):
        schedule = LinearDecayTail(lr, cfg.train_steps, cfg.lr_decay_fraction)
        return keras.optimizers.Adam(schedule, beta_1=cfg.adam_beta1, beta_2=cfg.adam_beta2)

    if cfg.kind == "ln":
        model = LadderClassifier(ladder, cfg.reconstruction_weight, name="ln")
        model.compile(d_optimizer=adam(cfg.lr), jit_compile=jit_compile)
        return model
    generator = build_generator(cfg.noise_dim, cfg.generator_width, cfg.layer_sizes[0],
                                seed=cfg.seed + 1)
    model = EBGANLadder(ladder, generator, cfg.reconstruction_weight, cfg.effective_margin_factor,
                        cfg.margin_decay_steps, cfg.margin_reference_steps,
                        cfg.fake_batch_stats, seed=cfg.seed, name=cfg.kind)
    model.compile(d_optimizer=adam(cfg.lr), g_optimizer=adam(cfg.generator_lr),
                  jit_compile=jit_compile)
    return model
