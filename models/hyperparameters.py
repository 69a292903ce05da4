"""The hyperparameters' names, default ranges and file formats; no TensorFlow needed.

Two file formats describe them, both checked before anything trains (``pipeline.config``):

* a search-space file in the spirit of AI Platform's hptuning config: a list of ``params``
  with ``parameterName``, ``type`` (DOUBLE, INTEGER, DISCRETE, CATEGORICAL) and a range;
* a fixed-values file: ``{name: value}``, or the Tuner's own ``best_hyperparameters.txt``.
"""

ALGORITHMS = ("random", "bayesian", "hyperband")

# name: (kind, default range, default value); kinds follow AI Platform's parameter types.
DEFAULTS = {
    "conv_filters": ("DISCRETE", [16, 32, 48], 32),
    "kernel_size": ("DISCRETE", [3, 5], 3),
    "dense_units": ("DISCRETE", [64, 128, 256], 128),
    "dropout": ("DOUBLE", (0.1, 0.5, "LINEAR"), 0.2),
    # The peak of the one-cycle schedule (models/model.py).
    "learning_rate": ("DOUBLE", (2e-3, 1e-2, "LOG"), 6e-3),
}


class HyperparameterError(ValueError):
    """A search space or fixed-values document names an unknown parameter or an empty range."""


class HyperparametersNotFoundError(RuntimeError):
    """Tuning mode "reuse" found no best hyperparameters in the metadata store."""


def default_params() -> list:
    """The project's own search space as AI Platform-style params."""
    params = []
    for name, (kind, space, _) in DEFAULTS.items():
        if kind == "DISCRETE":
            params.append({"parameterName": name, "type": kind, "values": list(space)})
        else:
            low, high, scale = space
            params.append(
                {
                    "parameterName": name,
                    "type": kind,
                    "minValue": low,
                    "maxValue": high,
                    "scaleType": f"UNIT_{scale}_SCALE",
                }
            )
    return params


def parse_search_space(document) -> list:
    """Validates an hptuning-style document (``params`` list, optionally under ``trainingInput.hyperparameters``)."""
    if isinstance(document, dict):
        document = document.get("trainingInput", document)
        document = document.get("hyperparameters", document)
        document = document.get("params") if isinstance(document, dict) else None
    if not isinstance(document, list) or not document:
        raise HyperparameterError("a search space needs a non-empty 'params' list")
    params = []
    for raw in document:
        name = raw.get("parameterName") if isinstance(raw, dict) else None
        if name not in DEFAULTS:
            raise HyperparameterError(f"unknown hyperparameter {name!r}: choose from {', '.join(DEFAULTS)}")
        kind = str(raw.get("type", "")).upper()
        if kind in ("DISCRETE", "CATEGORICAL"):
            values = raw.get("discreteValues", raw.get("categoricalValues", raw.get("values")))
            if not values:
                raise HyperparameterError(f"{name}: empty range (no discreteValues)")
            params.append({"parameterName": name, "type": kind, "values": list(values)})
        elif kind in ("DOUBLE", "INTEGER"):
            low, high = raw.get("minValue"), raw.get("maxValue")
            if not isinstance(low, int | float) or not isinstance(high, int | float):
                raise HyperparameterError(f"{name}: {kind} needs numeric minValue and maxValue")
            if low >= high:
                raise HyperparameterError(f"{name}: empty range (minValue {low} >= maxValue {high})")
            scale = str(raw.get("scaleType", "UNIT_LINEAR_SCALE")).upper()
            if scale.endswith("LOG_SCALE") and low <= 0:
                raise HyperparameterError(f"{name}: a log scale needs minValue > 0, got {low}")
            params.append({"parameterName": name, "type": kind, "minValue": low, "maxValue": high, "scaleType": scale})
        else:
            raise HyperparameterError(f"{name}: type must be DOUBLE, INTEGER, DISCRETE or CATEGORICAL, got {kind!r}")
    return params


def parse_fixed_values(document) -> dict:
    """Validates fixed hyperparameter values: ``{name: value}`` or KerasTuner's ``{"values": {...}}``."""
    if isinstance(document, dict) and isinstance(document.get("values"), dict):
        document = document["values"]  # the Tuner's best_hyperparameters.txt
    if not isinstance(document, dict) or not document:
        raise HyperparameterError("fixed hyperparameters must be a non-empty mapping of name to value")
    for name, value in document.items():
        if name not in DEFAULTS:
            raise HyperparameterError(f"unknown hyperparameter {name!r}: choose from {', '.join(DEFAULTS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise HyperparameterError(f"{name}: expected a positive number, got {value!r}")
        if DEFAULTS[name][0] == "DISCRETE" and value != int(value):
            raise HyperparameterError(f"{name}: expected a whole number, got {value!r}")
    return dict(document)
