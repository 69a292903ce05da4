"""The pipeline's command-line flags, made from the settings' declarations in ``pipeline/config.py``.

``--preset``, ``--quick``, ``--output-root`` and one ``--field-name`` per ``PipelineConfig`` field,
each with its declaration's help (and, where a preset sets it otherwise, each preset's value). The
local runner, the inspection CLI and the benchmarks read a run's settings through here, so a flag
means the same everywhere. Each flag's text is parsed to its field's type and then goes through
``pipeline.config.coerce``, the path keyword and cloud-config values take too.
"""

import argparse
import dataclasses
import os
from typing import Sequence

from cli.parsing import Parser, boolean
from pipeline import facts
from pipeline.config import (
    ARGUMENTS,
    DEFAULT_OUTPUT_ROOT,
    OUTPUT_ROOT_ENV,
    PRESETS,
    ConfigError,
    PipelineConfig,
    coerce,
    get_config,
    preset_config,
    setting_type,
)


def parse_text(name: str, text: str):
    """The value of setting ``name`` written on the command line, coerced to its field's type."""
    kind, item = setting_type(name)
    try:
        value = tuple(item(part) for part in text.split(",") if part) if kind is tuple else kind(text)
    except ValueError:
        what = f"comma-separated {item.__name__} values" if item else kind.__name__
        raise ConfigError(f"--{name.replace('_', '-')}: expected {what}, got {text!r}") from None
    return coerce(name, value)


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _defaults(field: dataclasses.Field) -> str:
    """`` (default: 6; digits 20, mnist 7)``: the field's default and each preset that sets it otherwise."""
    values = {preset: getattr(preset_config(preset), field.name) for preset in PRESETS}
    differing = [f"{preset} {_shown(value)}" for preset, value in values.items() if value != field.default]
    if field.name.endswith("_path"):
        differing = [f"{preset} its own" for preset, value in values.items() if value != field.default]
    shown = [f"default: {_shown(field.default)}"] if field.default not in ("", ()) else []
    low, high = field.metadata["low"], field.metadata["high"]
    if low is not None:
        shown.append(f"{low} to {high}" if high is not None else f"at least {low}")
    return f" ({'; '.join(shown + [', '.join(differing)] if differing else shown)})" if shown or differing else ""


def add_flags(parser: argparse.ArgumentParser, output_root: str | None = None) -> None:
    """Adds ``--preset``, ``--quick``, ``--output-root`` and one flag per PipelineConfig field to ``parser``.

    ``output_root`` replaces the output root's default ($PIPELINE_OUTPUT_ROOT, else outputs).
    """
    group = parser.add_argument_group("pipeline settings (pipeline/config.py; a flag left out keeps the preset's)")
    group.add_argument("--preset", default=argparse.SUPPRESS, choices=PRESETS, help=ARGUMENTS["preset"][1])
    boolean(group, "--quick", default=False, help=ARGUMENTS["quick"][1])
    if output_root is None:
        output_root = os.environ.get(OUTPUT_ROOT_ENV, DEFAULT_OUTPUT_ROOT)
    group.add_argument("--output-root", default=output_root, help=ARGUMENTS["output_root"][1])
    for field in dataclasses.fields(PipelineConfig):
        kind, _ = setting_type(field.name)
        name = "--" + field.name.replace("_", "-")
        text = field.metadata["help"] + _defaults(field)
        if kind is bool:
            boolean(group, name, dest=field.name, default=argparse.SUPPRESS, help=text)
            continue
        metavar = "A,B,..." if kind is tuple else None
        choices = field.metadata["choices"] or None
        group.add_argument(
            name, dest=field.name, default=argparse.SUPPRESS, metavar=metavar, choices=choices, help=text
        )


def from_flags(args: dict) -> PipelineConfig:
    """The config from parsed flags (``vars(parser.parse_args())``), each value coerced from its text.

    Without ``--preset``, the preset is the one ``data.prepare`` recorded in ``--data-root``, else digits.
    """
    args = dict(args)
    quick, output_root = args.pop("quick", False), args.pop("output_root", DEFAULT_OUTPUT_ROOT)
    preset = args.pop("preset", None)
    settings = {name: value if isinstance(value, bool) else parse_text(name, value) for name, value in args.items()}
    preset = preset or facts.default_preset(settings.get("data_root"))
    return get_config(preset, quick=quick, output_root=output_root, **settings)


def parse_args(argv: Sequence[str] | None = None, prog: str = "pipeline", description: str = "") -> PipelineConfig:
    """Builds the config from command-line flags (not yet completed from the data: ``pipeline.facts.complete``)."""
    parser = Parser(prog, description)
    add_flags(parser)
    return from_flags(vars(parser.parse_args(argv)))
