"""``python -m inspection``: the inspection CLI (inspection/command_line.py)."""

import sys

from cli.quiet import quiet_libraries

quiet_libraries()  # before anything loads TensorFlow

from inspection import command_line  # noqa: E402

sys.exit(command_line.main())
