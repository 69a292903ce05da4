"""What the project's commands print: one-line errors with documented exit codes."""
