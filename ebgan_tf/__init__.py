"""ebgan_tf: Energy-based GANs (Zhao, Mathieu, LeCun, ICLR 2017) in TensorFlow/Keras 3."""

__version__ = "0.1.0"
