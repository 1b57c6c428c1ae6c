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
search; here it is `margin_at`, a setting), after which EBGAN-LN is exactly an LN.

Loss terms are pure functions; per-example costs return shape [batch] so that they are reduced with
the global batch size under `tf.distribute` (`tf.nn.compute_average_loss`). Batch statistics are
all-reduced over replicas, so a distributed step equals a single-device step on the global batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import keras
import numpy as np
import tensorflow as tf

from ebgan_tf import losses

MODEL_KINDS = ("ln", "ebgan_ln")
# The standard PI-MNIST ladder (Rasmus et al. 2015; paper.md §3.3).
STANDARD_LAYER_SIZES = (784, 1000, 500, 250, 250, 250, 10)
_BN_EPSILON = 1e-5


# --- configuration ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LadderConfig:
    """One LN or EBGAN-LN run of Table 2: the model, its labelled subset, and how it is trained."""

    kind: str = "ln"  # "ln" (the baseline) or "ebgan_ln".
    num_labels: int = 100  # Size of the class-balanced labelled subset (100, 200 or 1000 in Table 2).
    seed: int = 0  # Picks the labelled subset, the initial weights, the noise and the data order.
    # --- Ladder (Rasmus et al. 2015; Appendix D as recalled, paper.md §3.3) ---
    layer_sizes: tuple = STANDARD_LAYER_SIZES
    noise_std: float = 0.3  # Choice [3P]: Gaussian corruption of the input and every encoder layer.
    # Choice: w of the bottom denoising cost, on the per-sample sum of squares: 1000/784 is the
    # middle of the grid Appendix D is recalled to search ({5000, 2000, 1000, 500}/784), and
    # equals the classic lambda_0 = 1000 on the per-pixel mean.
    reconstruction_weight: float = 1000.0 / 784.0
    # --- Optimisation (Appendix D as recalled: Adam, beta1 0.5, minibatch 100; the lr grid) ---
    lr: float = 0.002  # Choice: the top of the recalled lr grid and the standard LN value [3P].
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    lr_decay_fraction: float = 1.0 / 3.0  # Choice [3P]: lr decays linearly to 0 over this last part.
    labelled_batch_size: int = 100
    unlabelled_batch_size: int = 100
    train_steps: int = 1000
    # --- EBGAN-LN (paper §4.2; generator and schedule unknown, paper.md §3.3) ---
    # Choice: the initial margin m_0 on the energy scale above (see `margin_at`), from a pilot on
    # seed 0 / 100 labels / 1500 steps, scored on training images 50000-59999 (never the test set;
    # the 100 labelled examples were drawn from all 60,000, so ~1/6 of them lie in that range):
    # LN 6.48 %; EBGAN-LN m_0 = 3: 6.45 %, 6: 6.20 %, 10: 7.34 %, 20: 10.02 % error. Real energies
    # fall from ~30 to ~8 over such a run and fakes sit at ~6-10, so m_0 >= 10 mostly pushes D to
    # mis-reconstruct fakes, and m_0 = 3 rarely engages the hinge.
    margin: float = 6.0
    margin_decay_fraction: float = 0.5  # Choice: m reaches 0 after this fraction of training.
    noise_dim: int = 100  # Choice: z ~ N(0, I) of 100 dimensions (DCGAN's size).
    generator_width: int = 500  # Choice: 100-500-500-784, softplus + BN, sigmoid output
    # (Salimans et al. 2016's PI-MNIST semi-supervised generator); the paper's is unknown.
    generator_lr: float = 0.002
    calibration_examples: int = 10_000  # Training images that set the test-time BN statistics.

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
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.kind}-{self.num_labels}-s{self.seed}-{digest}"


# --- loss terms (pure functions) ----------------------------------------------------------------

def denoising_cost(clean, reconstruction, weight: float):
    """Bottom-layer denoising cost, the LN's unsupervised term and EBGAN-LN's energy D(x).

    Args:
      clean: the uncorrupted input x, [batch, features] (or [batch, ...], flattened per sample).
      reconstruction: the decoder's estimate x_hat from the corrupted input, same shape.
      weight: w, applied to the per-sample sum of squares.

    Returns:
      float32 [batch]: w * sum_j (x_j - x_hat_j)^2, non-negative.
    """
    clean = tf.cast(clean, tf.float32)
    residual = tf.cast(reconstruction, tf.float32) - clean
    residual = tf.reshape(residual, [tf.shape(residual)[0], -1])
    return weight * tf.reduce_sum(tf.square(residual), axis=1)


def classification_cost(labels, logits):
    """Cross-entropy of the corrupted encoder's softmax on labelled examples.

    Args: labels: int [batch] in 0..C-1; logits: [batch, C]. Returns float32 [batch].
    """
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32))


def vanilla_combinator(z_tilde, u, a):
    """The ladder's denoising function g (Rasmus et al. 2015, eq. 2), per unit.

    mu(u) = a1 sigmoid(a2 u + a3) + a4 u + a5;  v(u) = a6 sigmoid(a7 u + a8) + a9 u + a10;
    z_hat = (z_tilde - mu(u)) * v(u) + mu(u).

    Args:
      z_tilde: the corrupted lateral input [batch, n]; u: the top-down signal [batch, n];
      a: the ten per-unit parameters, [10, n].
    Returns: z_hat [batch, n].
    """
    mu = a[0] * tf.sigmoid(a[1] * u + a[2]) + a[3] * u + a[4]
    v = a[5] * tf.sigmoid(a[6] * u + a[7]) + a[8] * u + a[9]
    return (z_tilde - mu) * v + mu


def margin_at(step, start: float, decay_steps: int):
    """EBGAN-LN's margin schedule: linear decay from `start` at step 0 to 0 at `decay_steps`.

    Args: step: scalar (int or tensor); start: m_0 >= 0; decay_steps: >= 0 (0: margin 0 always).
    Returns: float32 scalar m(step) = start * max(0, 1 - step / decay_steps).
    """
    if decay_steps <= 0:
        return tf.zeros([], tf.float32)
    progress = tf.cast(step, tf.float32) / float(decay_steps)
    return start * tf.maximum(0.0, 1.0 - progress)


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

def _batch_moments(x):
    """Mean and (biased) variance over the global batch: sums are all-reduced over replicas."""
    x = tf.cast(x, tf.float32)
    sums = tf.stack([tf.reduce_sum(x, axis=0), tf.reduce_sum(tf.square(x), axis=0)])
    count = tf.cast(tf.shape(x)[0], tf.float32)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        sums, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [sums, count])
    mean = sums[0] / count
    return mean, tf.maximum(sums[1] / count - tf.square(mean), 0.0)


def _normalize(x, mean, variance):
    return (x - mean) * tf.math.rsqrt(variance + _BN_EPSILON)


class LadderNetwork(keras.layers.Layer):
    """The ladder: encoder weights W, (beta, gamma), decoder weights V and combinator parameters.

    Inputs are flattened images [batch, 784] in [0, 1]. The encoder's batch norm has no learned
    scale except at the top (softmax) layer, as in Rasmus et al.; hidden layers are ReLU.
    """

    def __init__(self, layer_sizes=STANDARD_LAYER_SIZES, noise_std: float = 0.3,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.layer_sizes = tuple(int(n) for n in layer_sizes)
        self.noise_std = float(noise_std)
        sizes = self.layer_sizes
        depth = len(sizes) - 1
        seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=2 * depth)

        def matrix(n_in, n_out, name, s):
            # N(0, 1/n_in), as in the reference ladder implementations.
            init = keras.initializers.RandomNormal(stddev=1.0 / np.sqrt(n_in), seed=int(s))
            return self.add_weight(shape=(n_in, n_out), initializer=init, name=name)

        self.encoder_weights = [matrix(sizes[l - 1], sizes[l], f"W{l}", seeds[l - 1])
                                for l in range(1, depth + 1)]
        self.betas = [self.add_weight(shape=(sizes[l],), initializer="zeros", name=f"beta{l}")
                      for l in range(1, depth + 1)]
        self.top_gamma = self.add_weight(shape=(sizes[-1],), initializer="ones", name="gamma_top")
        self.decoder_weights = [matrix(sizes[l], sizes[l - 1], f"V{l}", seeds[depth + l - 1])
                                for l in range(1, depth + 1)]
        # a2 = a7 = 1, the rest 0: the reference initialisation, where z_hat starts at 0.
        a_init = np.zeros((10, 1), np.float32)
        a_init[1] = a_init[6] = 1.0
        self.combinator = [
            self.add_weight(shape=(10, sizes[l]), name=f"a{l}",
                            initializer=keras.initializers.Constant(np.repeat(a_init, sizes[l], 1)))
            for l in range(depth + 1)]
        self.population_mean = [
            self.add_weight(shape=(sizes[l],), initializer="zeros", trainable=False,
                            name=f"pop_mean{l}") for l in range(1, depth + 1)]
        self.population_variance = [
            self.add_weight(shape=(sizes[l],), initializer="ones", trainable=False,
                            name=f"pop_var{l}") for l in range(1, depth + 1)]
        self.built = True

    @property
    def depth(self) -> int:
        return len(self.layer_sizes) - 1

    def _corrupt(self, x, noise_std):
        if noise_std == 0.0:
            return x
        # Op-level random: works in every replica context; reproducible under a global seed.
        return x + noise_std * tf.random.normal(tf.shape(x))

    def encode(self, x, noise_std: float, population_stats: bool = False):
        """Runs the encoder. Returns (logits [B, 10], z_tilde per layer 0..L, top softmax)."""
        h = self._corrupt(tf.cast(x, tf.float32), noise_std)
        zs = [h]
        for l in range(1, self.depth + 1):
            pre = tf.matmul(h, self.encoder_weights[l - 1])
            if population_stats:
                mean, variance = self.population_mean[l - 1], self.population_variance[l - 1]
            else:
                mean, variance = _batch_moments(pre)
            z = self._corrupt(_normalize(pre, mean, variance), noise_std)
            zs.append(z)
            if l < self.depth:
                h = tf.nn.relu(z + self.betas[l - 1])
        logits = self.top_gamma * (zs[-1] + self.betas[-1])
        return logits, zs, tf.nn.softmax(logits)

    def decode_bottom(self, zs, top):
        """The top-down pass with lateral connections; returns x_hat, the layer-0 estimate."""
        u = top
        z_hat = None
        for l in range(self.depth, -1, -1):
            if l < self.depth:
                u = tf.matmul(z_hat, self.decoder_weights[l])
            u = _normalize(u, *_batch_moments(u))
            z_hat = vanilla_combinator(zs[l], u, self.combinator[l])
        return z_hat

    def corrupted_logits(self, x):
        return self.encode(x, self.noise_std)[0]

    def energy(self, x, weight: float):
        """Per-sample bottom denoising cost of a batch x [B, 784] -> [B] (batch statistics)."""
        _, zs, top = self.encode(x, self.noise_std)
        return denoising_cost(x, self.decode_bottom(zs, top), weight)

    def classify(self, x):
        """Clean-encoder logits with the population statistics set by `calibrate`."""
        return self.encode(x, 0.0, population_stats=True)[0]

    def calibrate(self, x):
        """Sets the population batch-norm statistics from the clean encoder on x [N, 784].

        One pass over all of x at once, so each layer's statistics are those of x exactly.
        """
        h = tf.convert_to_tensor(x, tf.float32)
        for l in range(1, self.depth + 1):
            pre = tf.matmul(h, self.encoder_weights[l - 1])
            mean, variance = tf.nn.moments(pre, axes=[0])
            self.population_mean[l - 1].assign(mean)
            self.population_variance[l - 1].assign(variance)
            if l < self.depth:
                h = tf.nn.relu(_normalize(pre, mean, variance) + self.betas[l - 1])

    def call(self, x):
        return self.classify(x)


def build_generator(noise_dim: int = 100, width: int = 500, output_dim: int = 784,
                    seed: int | None = None, name: str = "generator") -> keras.Model:
    """EBGAN-LN's generator (a choice; the paper's is unknown): z -> images [B, 784] in [0, 1]."""
    init = keras.initializers.GlorotUniform(seed=seed)
    noise = keras.Input((noise_dim,), name="noise")
    x = noise
    for i in range(2):
        x = keras.layers.Dense(width, kernel_initializer=init, name=f"g_dense_{i}")(x)
        x = keras.layers.BatchNormalization(synchronized=True, name=f"g_bn_{i}")(x)
        x = keras.layers.Activation("softplus", name=f"g_softplus_{i}")(x)
    x = keras.layers.Dense(output_dim, kernel_initializer=init, name="g_output")(x)
    images = keras.layers.Activation("sigmoid", name="g_sigmoid")(x)
    return keras.Model(noise, images, name=name)


# --- the Keras models ---------------------------------------------------------------------------

class LadderClassifier(keras.Model):
    """The LN baseline. A batch is a dict: `labelled` [B_l, 784], `labels` [B_l], `unlabelled`
    [B_u, 784] (and `noise`, ignored here). One step: one Adam update of C_LN."""

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

    def ladder_costs(self, data):
        """Per-example CE on the labelled batch [B_l] and denoising cost D(x) on the unlabelled [B_u]."""
        class_cost = classification_cost(data["labels"],
                                         self.ladder.corrupted_logits(data["labelled"]))
        real_energy = self.ladder.energy(data["unlabelled"], self.reconstruction_weight)
        return class_cost, real_energy

    def _ladder_update(self, data):
        with tf.GradientTape() as tape:
            class_cost, real_energy = self.ladder_costs(data)
            loss = tf.nn.compute_average_loss(class_cost) + tf.nn.compute_average_loss(real_energy)
        self._apply(self.d_optimizer, loss, tape, self.ladder.trainable_variables)
        return {"loss": tf.reduce_mean(class_cost) + tf.reduce_mean(real_energy),
                "class_cost": tf.reduce_mean(class_cost),
                "denoising_cost": tf.reduce_mean(real_energy)}

    def _apply(self, optimizer, loss, tape, variables):
        grads = tape.gradient(optimizer.scale_loss(loss), variables)
        optimizer.apply(grads, variables)

    def train_step(self, data):
        return self._update_trackers(self._ladder_update(data))

    def _update_trackers(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


class EBGANLadder(LadderClassifier):
    """EBGAN-LN: the LN is the energy D; G is trained against it; the margin decays to 0.

    A batch also carries `noise` [B_u, noise_dim] (one z per unlabelled example), so a step does not
    depend on how it is split over replicas. One step: one D (LN) update on
    C_LN + [m - D(G(z))]^+, then one G update on D(G(z)) re-scored by the updated D, with the same
    G forward pass (as `ebgan_tf.models`). Once m = 0 the hinge vanishes and D's update is the LN's;
    `stop_adversarial()` then drops G's update, which no longer affects D.
    """

    tracker_names = ("loss", "class_cost", "denoising_cost", "fake_energy", "margin", "g_loss")

    def __init__(self, ladder: LadderNetwork, generator: keras.Model, reconstruction_weight: float,
                 margin: float, margin_decay_steps: int, **kwargs):
        super().__init__(ladder, reconstruction_weight, **kwargs)
        self.generator = generator
        self.margin_start = float(margin)
        self.margin_decay_steps = int(margin_decay_steps)
        self.adversarial = True

    def compile(self, d_optimizer, g_optimizer=None, **kwargs):
        super().compile(d_optimizer, **kwargs)
        self.g_optimizer = g_optimizer
        g_optimizer.build(self.generator.trainable_variables)

    def margin(self):
        return margin_at(self.d_optimizer.iterations, self.margin_start, self.margin_decay_steps)

    def stop_adversarial(self):
        """From now on train as a plain LN (call once the margin is 0); retraces the step."""
        self.adversarial = False
        self.make_train_function(force=True)

    def generate(self, noise):
        return self.generator(noise, training=False)

    def train_step(self, data):
        if not self.adversarial:
            zeros = tf.zeros([])
            return self._update_trackers({**self._ladder_update(data), "fake_energy": zeros,
                                          "margin": zeros, "g_loss": zeros})
        margin = self.margin()
        with tf.GradientTape() as g_tape:
            fake = self.generator(data["noise"], training=True)
            # D's update is not part of G's gradient: keep it off G's tape.
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    class_cost, real_energy = self.ladder_costs(data)
                    fake_energy = self.ladder.energy(fake, self.reconstruction_weight)
                    # Eq. 1 with the LN's denoising cost as D(x), plus the LN's CE on labelled data.
                    per_example = losses.ebgan_discriminator_loss(real_energy, fake_energy, margin)
                    d_loss = (tf.nn.compute_average_loss(class_cost)
                              + tf.nn.compute_average_loss(per_example))
                self._apply(self.d_optimizer, d_loss, d_tape, self.ladder.trainable_variables)
            g_energy = self.ladder.energy(fake, self.reconstruction_weight)
            g_loss = tf.nn.compute_average_loss(losses.ebgan_generator_loss(g_energy))
        self._apply(self.g_optimizer, g_loss, g_tape, self.generator.trainable_variables)
        return self._update_trackers({
            "loss": tf.reduce_mean(class_cost) + tf.reduce_mean(per_example),
            "class_cost": tf.reduce_mean(class_cost),
            "denoising_cost": tf.reduce_mean(real_energy),
            "fake_energy": tf.reduce_mean(fake_energy), "margin": margin,
            "g_loss": tf.reduce_mean(g_energy)})


def build_model(cfg: LadderConfig, jit_compile: bool | str = False) -> LadderClassifier:
    """Builds and compiles an LN or EBGAN-LN for one configuration, in the current strategy scope."""
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
    model = EBGANLadder(ladder, generator, cfg.reconstruction_weight, cfg.margin,
                        cfg.margin_decay_steps, name="ebgan_ln")
    model.compile(d_optimizer=adam(cfg.lr), g_optimizer=adam(cfg.generator_lr),
                  jit_compile=jit_compile)
    return model
