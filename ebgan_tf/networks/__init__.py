"""The networks: fully connected (`mlp`, the MNIST study) and convolutional (`conv`, the LSUN,
CelebA and ImageNet figures); `build_networks(config)` builds a config's pair."""

from __future__ import annotations


def build_networks(config):
    """(generator, discriminator) of an `MLPConfig` or a `ConvConfig`."""
    from ebgan_tf.configs.conv import ConvConfig

    if isinstance(config, ConvConfig):
        from ebgan_tf.networks import conv

        return conv.build_networks(config)
    from ebgan_tf.networks import mlp

    return mlp.build_networks(config)
