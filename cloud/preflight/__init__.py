"""The preflight: the compiled job run on this machine with a KFP 2 backend's semantics, before anyone pays for it.

``main.py`` is the command (``python -m cloud.preflight``); ``steps.py`` runs the tasks as KFP's
driver and launcher do (``executor_input.py``), ``queries.py`` answers resolver and importer tasks,
``kfp_store.py`` keeps ML Metadata in KFP's layout and ``standins.py`` lists what runs here in place
of Google Cloud.
"""
