"""The convolutional DCGAN, EBGAN and EBGAN-PT on real images: MNIST upsampled to 64×64 (the
paper's LSUN/CelebA networks) or to 128×128 (its ImageNet-128 networks, noise planes in every
generator layer), scored during training by the suite's MNIST classifier.

    python reproductions/conv_mnist.py                     # cpu scale: reports/conv_mnist/
    python reproductions/conv_mnist.py --image_size=128    # EBGAN-PT: reports/conv_mnist128/
    python reproductions/conv_mnist.py --scale=smoke       # seconds: checks the machinery

Needs mnist/ under --data_dir (or $EBGAN_TF_DATA_DIR). Kill it and rerun: each model resumes at
its last checkpoint, with its scores so far.
"""

from ebgan_tf import cli
from ebgan_tf.experiments import conv_mnist

cli.define_common_flags("reports/conv_mnist")
conv_mnist.define_flags()
FLAGS = cli.FLAGS


def main(argv):
    name = conv_mnist.experiment_name(FLAGS.image_size)
    if not FLAGS["output_dir"].present:
        FLAGS.output_dir = f"reports/{name}"
    kinds = tuple(FLAGS.models) if FLAGS.models is not None else conv_mnist.DEFAULT_KINDS[name]
    cli.reproduce(cli.preset(conv_mnist.ConvMNIST, name, FLAGS.scale, kinds, FLAGS.seed,
                             FLAGS.margin, cli.precision(), FLAGS.train_steps))


if __name__ == "__main__":
    cli.run(main)
