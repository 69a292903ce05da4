"""Installs the project's packages and its two runners into the project's virtualenv (README.md, "Layout")."""

from setuptools import find_packages, setup

# `system` holds KFP's metrics artifact types, importable under their schema titles (system/__init__.py).
PACKAGES = [
    "pipeline",
    "configs",
    "models",
    "multiworker",
    "data",
    "cloud",
    "local",
    "inspection",
    "serving",
    "benchmarks",
    "cli",
    "system",
    "ui",
]
# The runners live at the project root, as in TFX's templates, so `tfx pipeline create
# --pipeline_path local_runner.py` needs no path tricks; installed, `python -m` finds them anywhere.
RUNNERS = ["local_runner", "kubeflow_v2_runner"]

setup(
    name="tfx-digits-pipeline",
    version="0.1.0",
    description="TFX end-to-end pipeline for image classification with a Keras convnet",
    packages=find_packages(include=[*PACKAGES, *(f"{name}.*" for name in PACKAGES)]),
    py_modules=RUNNERS,
    package_data={"ui": ["templates/*.html", "static/*"]},
    python_requires=">=3.10,<3.11",
)
