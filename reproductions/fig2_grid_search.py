"""Figures 2, 3 and 4 of EBGAN (§4.1): the MNIST grid search of Table 1 on Ray Tune. The main job.

    python reproductions/fig2_grid_search.py                  # cpu scale (the default)
    python reproductions/fig2_grid_search.py --scale=paper --ray_address=auto --gpus_per_trial=0.25
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
                                            FLAGS.num_seeds))


if __name__ == "__main__":
    cli.run(main)
