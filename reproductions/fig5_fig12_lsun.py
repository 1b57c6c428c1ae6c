"""Figures 5 and 12: DCGAN, EBGAN and EBGAN-PT on LSUN bedroom (whole images, 64×64), 7×7 grids.

    python reproductions/fig5_fig12_lsun.py --scale=smoke          # seconds, synthetic data
    python reproductions/fig5_fig12_lsun.py --data_dir=DIR         # cpu scale: needs the data (see README)
    python reproductions/fig5_fig12_lsun.py --scale=paper --strategy=mirrored --mixed_precision

Writes reports/fig5_fig12_lsun/index.html; kill it and rerun: it resumes from the last checkpoint.
"""

from absl import flags

from ebgan_tf import cli, conv_training

cli.define_common_flags("reports/fig5_fig12_lsun", margin=80.0)
conv_training.define_flags()


def main(argv):
    del argv
    conv_training.main_from_flags("fig5_fig12_lsun", flags.FLAGS)


if __name__ == "__main__":
    cli.run(main)
