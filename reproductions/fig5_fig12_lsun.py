"""Figures 5 and 12: DCGAN, EBGAN and EBGAN-PT on LSUN bedroom (whole images, 64×64), 7×7 grids.

    python reproductions/fig5_fig12_lsun.py --scale=smoke             # seconds, synthetic data
    python reproductions/fig5_fig12_lsun.py --data_dir=DIR            # cpu scale: needs the data (README)
    python reproductions/fig5_fig12_lsun.py --scale=paper --gpus_per_trial=4 \\
        --strategy=mirrored --mixed_precision                       # paper scale, per model 4 GPUs

Writes reports/fig5_fig12_lsun/index.html; kill it and rerun:
each model resumes at its last checkpoint.
"""

from ebgan_tf import cli
from ebgan_tf.experiments import conv_figures

NAME = "fig5_fig12_lsun"
cli.define_common_flags(f"reports/{NAME}", margin=conv_figures.FIGURES[NAME].margin)
conv_figures.define_flags()
FLAGS = cli.FLAGS


def main(argv):
    cli.reproduce(cli.preset(conv_figures.ConvFigures, NAME, FLAGS.scale, tuple(FLAGS.models),
                             FLAGS.seed, FLAGS.margin, cli.precision(), FLAGS.train_steps))


if __name__ == "__main__":
    cli.run(main)
