"""Figures 11 and 13: DCGAN, EBGAN and EBGAN-PT on LSUN bedroom patches (64×64 crops of 96×96).

    python reproductions/fig11_fig13_lsun_patches.py --scale=smoke             # seconds, synthetic data
    python reproductions/fig11_fig13_lsun_patches.py --data_dir=DIR            # cpu scale: needs the data (README)
    python reproductions/fig11_fig13_lsun_patches.py --scale=paper --gpus_per_trial=4 \\
        --strategy=mirrored --mixed_precision                       # paper scale, per model 4 GPUs

Writes reports/fig11_fig13_lsun_patches/index.html; kill it and rerun:
each model resumes at its last checkpoint.
"""

from ebgan_tf import cli
from ebgan_tf.experiments import conv_figures

NAME = "fig11_fig13_lsun_patches"
cli.define_common_flags(f"reports/{NAME}", margin=conv_figures.FIGURES[NAME].margin)
conv_figures.define_flags()
FLAGS = cli.FLAGS


def main(argv):
    cli.reproduce(cli.preset(conv_figures.ConvFigures, NAME, FLAGS.scale, tuple(FLAGS.models),
                             FLAGS.seed, FLAGS.margin, cli.precision(), FLAGS.train_steps))


if __name__ == "__main__":
    cli.run(main)
