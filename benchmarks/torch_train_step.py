"""A plain PyTorch eager implementation of the MNIST-study train step, the speed reference.

The same networks as ebgan_tf/networks/mlp.py (Linear -> BatchNorm1d -> ReLU stacks, tanh output, an
auto-encoder D whose encoder output is the code; the GAN D ends in one logit), the same losses
(per-sample hinge, eq. 1; L2 energy, eq. 13; the squared-cosine PT on the encoder codes, eq. 14)
and the same order: one G forward pass, one D update on (real, fake.detach()), then one G update
through the updated D, Adam(beta1=0.5) for both. Written the way the PyTorch DCGAN example is:
no compilation, no fused or foreach tricks, the defaults of torch.optim.Adam. PyTorch is not a
dependency of the suite; `pip install torch` to use this.
"""

from __future__ import annotations

import time


def _import_torch():
    try:
        import torch
    except ImportError:
        raise SystemExit("error: --torch needs PyTorch, which the suite does not install: "
                         "pip install torch") from None
    return torch


def build_networks(cfg):
    torch = _import_torch()
    nn = torch.nn
    pixels = cfg.image_size * cfg.image_size

    def stack(widths, bn_first):
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if cfg.batch_norm and (i > 0 or bn_first):
                layers.append(nn.BatchNorm1d(fan_out, eps=1e-5, momentum=0.1))
            layers.append(nn.ReLU())
            if cfg.dropout_d and not bn_first:
                layers.append(nn.Dropout(cfg.dropout_rate))
        return layers

    generator = nn.Sequential(
        *stack([cfg.noise_dim] + [cfg.size_g] * (cfg.n_layer_g - 1), bn_first=True),
        nn.Linear(cfg.size_g, pixels), nn.Tanh())
    if cfg.is_ebgan:
        encoder = nn.Sequential(nn.Flatten(),
                                *stack([pixels] + [cfg.size_d] * (cfg.n_layer_d - 1), False))
        decoder = nn.Linear(cfg.size_d, pixels)
        discriminator = nn.ModuleDict({"encoder": encoder, "decoder": decoder})
    else:
        discriminator = nn.Sequential(
            nn.Flatten(), *stack([pixels] + [cfg.size_d] * (cfg.n_layer_d - 1), False),
            nn.Linear(cfg.size_d, 1))
    for net, std in ((generator, cfg.g_init_stddev), (discriminator, cfg.d_init_stddev)):
        for module in net.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                nn.init.zeros_(module.bias)
    return generator, discriminator


class TorchStep:
    """`run(n)` trains n steps on one fixed batch and returns the wall time (seconds)."""

    def __init__(self, cfg, threads: int, seed: int = 0):
        torch = _import_torch()
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.torch, self.cfg, self.version = torch, cfg, torch.__version__
        self.generator, self.discriminator = build_networks(cfg)
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        self.g_opt = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr, betas=betas)
        self.d_opt = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr, betas=betas)
        self.real = torch.rand(cfg.batch_size, 1, cfg.image_size, cfg.image_size) * 2 - 1
        self.noise = torch.randn(cfg.batch_size, cfg.noise_dim)
        self.generator.train()
        self.discriminator.train()
        self.last = {}

    def energy(self, images):
        flat = images.flatten(1)
        code = self.discriminator["encoder"](flat)
        reconstruction = self.discriminator["decoder"](code)
        return ((reconstruction - flat) ** 2).sum(1).add(1e-12).sqrt(), code

    def pulling_away_term(self, code):
        unit = code / (code.pow(2).sum(1, keepdim=True) + 1e-12).sqrt()
        similarity = (unit @ unit.t()) ** 2
        n = code.shape[0]
        return (similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))

    def step(self):
        torch, cfg = self.torch, self.cfg
        fake = self.generator(self.noise).view_as(self.real)
        self.d_opt.zero_grad()
        if cfg.is_ebgan:
            real_energy, _ = self.energy(self.real)
            fake_energy, _ = self.energy(fake.detach())
            d_loss = (real_energy + torch.relu(cfg.margin - fake_energy)).mean()
        else:
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            real_logits = self.discriminator(self.real)
            fake_logits = self.discriminator(fake.detach())
            d_loss = (bce(real_logits, torch.ones_like(real_logits))
                      + bce(fake_logits, torch.zeros_like(fake_logits)))
        d_loss.backward()
        self.d_opt.step()
        self.g_opt.zero_grad()
        if cfg.is_ebgan:
            fake_energy, code = self.energy(fake)
            g_loss = fake_energy.mean()
            if cfg.effective_pt_weight:
                g_loss = g_loss + cfg.effective_pt_weight * self.pulling_away_term(code)
        else:
            fake_logits = self.discriminator(fake)
            g_loss = torch.nn.functional.binary_cross_entropy_with_logits(
                fake_logits, torch.ones_like(fake_logits))
        g_loss.backward()
        self.g_opt.step()
        return d_loss, g_loss

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            d_loss, g_loss = self.step()
        # Eager CPU ops are synchronous; .item() is the one host read, as a training log makes.
        self.last = {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
        return time.perf_counter() - start
