"""Figure 7: EBGAN-PT (beside DCGAN and EBGAN) on ImageNet-1k at 128×128, a 6×10 grid.

    python reproductions/fig7_imagenet128.py --scale=smoke          # seconds, synthetic data
    python reproductions/fig7_imagenet128.py --data_dir=DIR         # cpu scale: needs the data (see README)
    python reproductions/fig7_imagenet128.py --scale=paper --strategy=mirrored --mixed_precision

Writes reports/fig7_imagenet128/index.html; kill it and rerun: it resumes from the last checkpoint.
"""

from absl import flags

from ebgan_tf import cli, conv_training

cli.define_common_flags("reports/fig7_imagenet128", margin=40.0)
conv_training.define_flags()


def main(argv):
    del argv
    conv_training.main_from_flags("fig7_imagenet128", flags.FLAGS)


if __name__ == "__main__":
    cli.run(main)
