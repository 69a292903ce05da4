"""``python -m inspection``: the inspection CLI (inspection/cli.py)."""

import sys

from inspection import cli

cli.quiet_libraries()
sys.exit(cli.main())
