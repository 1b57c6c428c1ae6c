"""Figures 11 and 13: DCGAN, EBGAN and EBGAN-PT on LSUN bedroom augmented patches (64×64 crops of 96×96), 7×7 grids.

    python reproductions/fig11_fig13_lsun_patches.py --scale=smoke          # seconds, synthetic data
    python reproductions/fig11_fig13_lsun_patches.py --data_dir=DIR         # cpu scale: needs the data (see README)
    python reproductions/fig11_fig13_lsun_patches.py --scale=paper --strategy=mirrored --mixed_precision

Writes reports/fig11_fig13_lsun_patches/index.html; kill it and rerun: it resumes from the last checkpoint.
"""

from absl import flags

from ebgan_tf import cli, conv_training

cli.define_common_flags("reports/fig11_fig13_lsun_patches", margin=80.0)
conv_training.define_flags()


def main(argv):
    del argv
    conv_training.main_from_flags("fig11_fig13_lsun_patches", flags.FLAGS)


if __name__ == "__main__":
    cli.run(main)
