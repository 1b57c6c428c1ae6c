"""Every experiment's settings as frozen dataclasses; importing them needs no TensorFlow.

- `settings`: `setting(default, source, why)` (each field says where its value comes from) and
  `stable_id`;
- `adversarial`: `AdversarialConfig`, what every GAN/EBGAN shares;
- `mlp`: `MLPConfig`, Table 1 and the named presets of the MNIST study;
- `conv`: `ConvConfig` and the convolutional architectures in the paper's notation;
- `ladder`: `LadderConfig` (Table 2);
- `scales`: `Scale`, the one budget type of every experiment.
"""
