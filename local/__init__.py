"""Running the pipeline on this machine: input checks, the one-run-at-a-time lock."""
