"""``python -m cloud.preflight``: runs the compiled job on this machine (cloud/preflight/main.py)."""

import sys

from cli.quiet import quiet_libraries

quiet_libraries()  # compiling loads TensorFlow: its start-up notices are not the preflight's output

from cloud.preflight.main import main  # noqa: E402

sys.exit(main())
