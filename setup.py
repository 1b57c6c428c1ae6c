"""ebgan_tf: a TensorFlow/Keras reproducibility suite for Energy-based GANs (Zhao et al., ICLR 2017)."""

from pathlib import Path

from setuptools import find_packages, setup

requirements = [
    line.split("#")[0].strip()
    for line in Path(__file__).with_name("requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip()
]
test_requirements = [r for r in requirements if r.startswith("pytest")]

setup(
    name="ebgan_tf",
    version="0.1.0",
    description="Reproductions of every figure and table of Energy-based GANs in TensorFlow/Keras 3.",
    packages=find_packages(include=["ebgan_tf", "ebgan_tf.*"]),
    package_data={"ebgan_tf": ["metrics/*.keras", "metrics/*.json", "**/*.txt",
                               "score_regression_baseline.json"]},
    python_requires=">=3.11",
    install_requires=[r for r in requirements if r not in test_requirements],
    extras_require={"test": test_requirements},
)
