"""Predicts with a pushed model on a file of JSON instances, like ``gcloud ai-platform predict --json-instances``.

    python -m serving.predict --model-dir outputs/serving/digits-convnet --json-instances instances.json

``--model-dir`` is a serving folder (its newest version is used) or one version folder. The file
(UTF-8) holds one JSON instance per line (newline-delimited JSON), one object ``{"instances": [...]}``
(optionally with ``"signature_name"``), or a JSON array of instances spread over several lines;
an instance takes any form the REST server takes (serving/codec.py). Prints one line per
instance, ``{"classes": ..., "probabilities": [...]}`` (and ``"class_name"`` when the model was
exported with class names), in the file's order. A bad flag, file or
instance, or a model folder that cannot be loaded, ends with one line naming it and exit status 2
(cli/errors.py).
"""

import json
import sys
from typing import List, Tuple

from cli.errors import run_command
from cli.parsing import Parser
from models import features
from serving import InputError, OptionError, versions

PROG = "serving.predict"
MAX_BATCH = 65536


def read_text(path: str) -> str:
    """The file's text; OptionError naming the file when it cannot be read as UTF-8 text."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise OptionError(f"--json-instances {path}: no such file") from None
    except IsADirectoryError:
        raise OptionError(f"--json-instances {path}: a folder, not a file of JSON instances") from None
    except UnicodeDecodeError as e:
        raise OptionError(f"--json-instances {path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise OptionError(f"--json-instances {path}: cannot read it ({e.strerror})") from None


def read_instances(path: str) -> Tuple[List[Tuple[str, object]], str]:
    """The file's (where, instance) pairs, ``where`` naming each for errors, and its ``signature_name``."""
    from serving import codec  # TensorFlow: loaded once the flags were found good

    text = read_text(path)
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):
        whole = None  # not one JSON document: newline-delimited
    if isinstance(whole, dict) and codec.ROWS in whole:
        instances = whole[codec.ROWS]
        if not isinstance(instances, list):
            raise InputError(f'{path}: "{codec.ROWS}" must be a list')
        signature = whole.get(codec.SIGNATURE_NAME, "")
        return [(f"{path} {codec.ROWS}[{i}]", value) for i, value in enumerate(instances)], signature
    if isinstance(whole, list) and len(lines) > 1:  # one line holding an array is one pixel-array instance
        return [(f"{path} [{i}]", value) for i, value in enumerate(whole)], ""
    if whole is not None and len(lines) > 1:
        return [(path, whole)], ""  # one instance spread over lines
    located = []
    for number, line in lines:
        try:
            located.append((f"{path} line {number}", json.loads(line)))
        except (ValueError, RecursionError) as e:
            raise InputError(f"{path} line {number}: malformed JSON: {e}") from None
    return located, ""


def build_parser() -> Parser:
    """Every flag of ``python -m serving.predict``."""
    parser = Parser(PROG, __doc__)
    parser.add_argument("--model-dir", required=True, help="a serving folder (newest version) or one version")
    parser.add_argument("--json-instances", required=True, help="newline-delimited JSON, or {'instances': [...]}")
    parser.add_argument("--signature-name", default="", help="as in a request; default: the file's, else per instance")
    parser.add_argument("--batch-size", type=int, default=256, help=f"instances per model call (1 to {MAX_BATCH})")
    return parser


def main(argv=None) -> int:
    """Prints the model's classes and probabilities for every instance in the file."""
    args = build_parser().parse_args(argv)

    def body() -> None:
        if not 1 <= args.batch_size <= MAX_BATCH:
            raise OptionError(f"--batch-size must lie in [1, {MAX_BATCH}], got {args.batch_size}")
        try:
            version, path = versions.resolve(args.model_dir)
        except FileNotFoundError as err:
            raise OptionError(str(err)) from err
        # TensorFlow loads only now, once the flags are known to be good.
        from serving import codec
        from serving.loaded_model import ModelError, load

        located, file_signature = read_instances(args.json_instances)
        if not located:
            raise InputError(f"{args.json_instances}: no instances")
        try:
            model = load(version, path)
        except ModelError as err:
            raise OptionError(f"--model-dir {args.model_dir}: {err}") from None
        kind = codec.signature_kind(args.signature_name or file_signature, model)
        for start in range(0, len(located), args.batch_size):
            images = []
            for where, value in located[start : start + args.batch_size]:
                try:
                    images.append(codec.decode_instance(value, model, kind))
                except InputError as e:
                    raise InputError(f"{where}: {e}") from None
            for prediction in codec.row_response(model.predict(images))["predictions"]:
                if model.class_names:
                    prediction["class_name"] = model.class_names[prediction[features.CLASSES]]
                print(json.dumps(prediction))

    return run_command(PROG, body, usage=(OptionError, InputError))


if __name__ == "__main__":
    from cli.quiet import quiet_libraries

    quiet_libraries()  # TensorFlow's start-up notices about CUDA and oneDNN are not the predictions
    sys.exit(main())
