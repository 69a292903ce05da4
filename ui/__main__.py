"""``python -m ui``: the web UI (ui/start.py)."""

import sys

from cli.quiet import quiet_libraries
from ui.start import main

if __name__ == "__main__":
    quiet_libraries()  # TensorFlow's start-up notices are not the UI's output
    sys.exit(main())
