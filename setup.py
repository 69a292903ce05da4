"""Installs the pipeline's packages (pipeline, models, data, serving) into the project's virtualenv."""

from setuptools import find_packages, setup

setup(
    name="tfx-digits-pipeline",
    version="0.1.0",
    description="TFX end-to-end pipeline for image classification with a Keras convnet",
    packages=find_packages(
        include=["pipeline", "pipeline.*", "models", "models.*", "data", "data.*", "serving", "serving.*"]
    ),
    python_requires=">=3.10,<3.11",
)
