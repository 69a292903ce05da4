"""One training worker: ``python -m multiworker.worker JOB`` runs the Trainer's ``run_fn`` with the job's arguments.

Started by multiworker/launcher.py with ``TF_CONFIG`` set; on Vertex AI every replica runs TFX's own
Trainer executor instead, which calls the same ``run_fn``.
"""

import json
import logging
import sys

from tfx.components.trainer.fn_args_utils import FnArgs

from models import training


def main(argv=None) -> int:
    """Reads the job file and trains as this worker."""
    (job_path,) = sys.argv[1:] if argv is None else argv
    # This worker's log (the launcher's worker-N.log) gets its epochs and TensorFlow's messages.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open(job_path) as f:
        training.run_fn(FnArgs(**json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
