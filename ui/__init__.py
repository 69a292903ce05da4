"""The web UI: the pipeline's runs from ML Metadata, and the pushed model to try (``python -m ui``; ui/start.py)."""
