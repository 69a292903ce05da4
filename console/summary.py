"""Lines that the local run's summary and the preflight's summary share."""

import os
import sys


def python_command() -> str:
    """This interpreter as the summaries' next commands name it: relative when below the working directory."""
    relative = os.path.relpath(sys.executable)
    return sys.executable if relative.startswith(os.pardir) else relative


def pushed_line(properties: dict, not_pushed: str) -> str:
    """The summary's ``pushed`` line from a PushedModel's properties (empty: there was none), else ``not_pushed``."""
    if properties.get("pushed") == 1:
        return f"  pushed         version {properties['pushed_version']} to {properties['pushed_destination']}"
    return f"  pushed         {not_pushed}"
