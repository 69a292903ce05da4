"""The pipeline's presets, one file each, every one a pure ``get_config()`` returning a ``PipelineConfig``.

``pipeline.config.get_config(preset, quick, output_root, **overrides)`` starts from one of them
(the big_vision ``configs/`` pattern); each docstring gives the command that runs it, its run time
and the test accuracy it reaches on this project's 2-core machine.
"""
