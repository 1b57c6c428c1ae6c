"""Figure 3 of EBGAN (§4.1): the grid's scores grouped by (optimD, optimG, lr). Reuses or resumes the
grid's trials in --output_dir (those of fig2_grid_search.py), then writes <output_dir>/fig3.html.

    python reproductions/fig3_optimizer_histograms.py                  # cpu scale (the default)
    python reproductions/fig3_optimizer_histograms.py --scale=paper --ray_address=auto --gpus_per_trial=0.25
"""

from ebgan_tf import cli
from ebgan_tf.experiments import mnist_grid

cli.define_common_flags(default_output_dir="reports/fig2", margin=10.0)
cli.define_grid_flags()
cli.define_num_seeds_flag("configuration of the grid")
FLAGS = cli.FLAGS


def main(argv):
    cli.reproduce(mnist_grid.GridExperiment(mnist_grid.SCALES[FLAGS.scale], FLAGS.seed,
                                            FLAGS.margin, cli.precision(),
                                            FLAGS.num_seeds), pages=["fig3.html"])


if __name__ == "__main__":
    cli.run(main)
