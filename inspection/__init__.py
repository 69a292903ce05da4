"""ML Metadata: the store, runs, lineage, evaluation results, plots, the inspection CLI and the notebooks' helper."""
