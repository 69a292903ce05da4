"""Vertex AI Pipelines and Kubeflow Pipelines: the cloud config, Vertex components, compile and submit."""
