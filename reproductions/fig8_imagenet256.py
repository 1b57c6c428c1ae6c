"""Figure 8: EBGAN-PT (beside DCGAN and EBGAN) on the ImageNet dog subset at 256×256, a 2×6 grid.

    python reproductions/fig8_imagenet256.py --scale=smoke          # seconds, synthetic data
    python reproductions/fig8_imagenet256.py --data_dir=DIR         # cpu scale: needs the data (see README)
    python reproductions/fig8_imagenet256.py --scale=paper --strategy=mirrored --mixed_precision

Writes reports/fig8_imagenet256/index.html; kill it and rerun: it resumes from the last checkpoint.
"""

from absl import flags

from ebgan_tf import cli, conv_training

cli.define_common_flags("reports/fig8_imagenet256", margin=80.0)
conv_training.define_flags()


def main(argv):
    del argv
    conv_training.main_from_flags("fig8_imagenet256", flags.FLAGS)


if __name__ == "__main__":
    cli.run(main)
