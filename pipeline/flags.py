"""The pipeline's command-line flags: ``--dataset``, ``--quick``, ``--output-root`` and one per config field.

Every runner, the inspection CLI and the benchmarks read a run's settings through here, so a flag
means the same everywhere. The text of each flag is parsed to its field's type and then goes
through ``pipeline.config.coerce``, the path keyword and cloud-config values take too.
"""

import argparse
import dataclasses
import os
from typing import Sequence

from pipeline.config import (
    DEFAULT_OUTPUT_ROOT,
    OUTPUT_ROOT_ENV,
    SCHEMAS,
    ConfigError,
    PipelineConfig,
    coerce,
    get_config,
    setting_type,
)

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_text(name: str, text: str):
    """The value of setting ``name`` written on the command line, coerced to its field's type."""
    kind, item = setting_type(name)
    try:
        if kind is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(text)
            value = text.lower() in _TRUE
        elif kind is tuple:
            value = tuple(item(part) for part in text.split(",") if part)
        else:
            value = kind(text)
    except ValueError:
        what = "true or false" if kind is bool else f"comma-separated {item.__name__} values" if item else kind.__name__
        raise ConfigError(f"--{name.replace('_', '-')}: expected {what}, got {text!r}") from None
    return coerce(name, value)


def flag_parser(description: str = "", **kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser with every pipeline flag: ``--dataset``, ``--quick``, ``--output-root`` and one per field."""
    parser = argparse.ArgumentParser(description=description, **kwargs)
    parser.add_argument("--dataset", default=argparse.SUPPRESS, help=f"preset: {', '.join(SCHEMAS)} (default digits)")
    parser.add_argument("--quick", action="store_true", help="small budgets, for tests and smoke runs")
    parser.add_argument("--output-root", default=os.environ.get(OUTPUT_ROOT_ENV, DEFAULT_OUTPUT_ROOT))
    for field in dataclasses.fields(PipelineConfig):
        kind, _ = setting_type(field.name)
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            default=argparse.SUPPRESS,
            help="comma-separated" if kind is tuple else None,
        )
    return parser


def from_flags(args: dict) -> PipelineConfig:
    """The config from parsed flags (``vars(flag_parser().parse_args())``), each value coerced from text."""
    args = dict(args)
    quick, output_root = args.pop("quick", False), args.pop("output_root", DEFAULT_OUTPUT_ROOT)
    settings = {name: parse_text(name, text) for name, text in args.items()}
    return get_config(settings.pop("dataset", "digits"), quick=quick, output_root=output_root, **settings)


def parse_args(argv: Sequence[str] | None = None, description: str = "") -> PipelineConfig:
    """Builds the config from command-line flags: ``--dataset``, ``--quick`` and one per field."""
    return from_flags(vars(flag_parser(description).parse_args(argv)))
