"""Training across processes, as Vertex AI runs replicas: TF_CONFIG, the loopback launcher, the synchronous loop."""

from models import keras_env  # noqa: F401  (selects Keras 3 before anything imports TensorFlow)
