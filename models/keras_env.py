"""Selects Keras 3 for ``tf.keras``, and GPU memory growth, before TensorFlow is first imported.

TensorFlow 2.16 ships Keras 3, but ``tensorflow_transform`` sets ``TF_USE_LEGACY_KERAS=1``
at import time when the variable is unset, so what ``tf.keras`` means would depend on import
order. KerasTuner 1.4.8 accepts only Keras 3 models, so the project pins Keras 3 here, in the
first module every entry point imports (see BUILD_NOTES.md, "Keras 2 or 3").
"""

import os
import sys

# The tfx CLI imports TensorFlow (and so tensorflow_transform's Keras 2 default) before it loads
# a runner file, but only to compile the DSL there: `tfx run create` trains in a fresh process,
# where this module runs first. Anywhere else a Keras 2 TensorFlow would break the Tuner later.
_IN_TFX_CLI = "tfx.tools.cli.handler.base_handler" in sys.modules
if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") not in (None, "0") and not _IN_TFX_CLI:
    raise RuntimeError(
        "TensorFlow was imported with TF_USE_LEGACY_KERAS set to 1 before this project; "
        "import the project first or unset TF_USE_LEGACY_KERAS (it needs Keras 3)."
    )
os.environ["TF_USE_LEGACY_KERAS"] = "0"
# GPU memory grows as needed instead of each process reserving the whole card (the Beam workers,
# the Tuner and Trainer and the REST server may share one); set here because TensorFlow reads it
# when it first initialises a GPU, which in a pipeline run happens long before the Trainer.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
