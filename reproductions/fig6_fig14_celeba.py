"""Figures 6 and 14: DCGAN, EBGAN and EBGAN-PT on aligned CelebA (64×64), 6×6 grids.

    python reproductions/fig6_fig14_celeba.py --scale=smoke          # seconds, synthetic data
    python reproductions/fig6_fig14_celeba.py --data_dir=DIR         # cpu scale: needs the data (see README)
    python reproductions/fig6_fig14_celeba.py --scale=paper --strategy=mirrored --mixed_precision

Writes reports/fig6_fig14_celeba/index.html; kill it and rerun: it resumes from the last checkpoint.
"""

from absl import flags

from ebgan_tf import cli, conv_training

cli.define_common_flags("reports/fig6_fig14_celeba", margin=20.0)
conv_training.define_flags()


def main(argv):
    del argv
    conv_training.main_from_flags("fig6_fig14_celeba", flags.FLAGS)


if __name__ == "__main__":
    cli.run(main)
