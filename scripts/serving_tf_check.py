"""Loads an exported model with whichever TensorFlow runs this file and calls both serving signatures.

    python scripts/serving_tf_check.py run MODEL_DIR TFRECORD OUT.json   # probabilities for 64 records
    python scripts/serving_tf_check.py compare A.json B.json             # exit 1 unless they agree

Imports TensorFlow only (no project code), so it runs in a bare environment holding the
TensorFlow of a serving image, e.g. TF 2.15 for Vertex AI's ``tf2-cpu.2-15`` (``make
check-serving-tf``): what the config proposes must load the model this project's TF 2.16 exports.
"""

import json
import sys

# Largest difference in a probability that still counts as the same answer (float32 kernels may differ).
TOLERANCE = 1e-5
RECORDS = 64


def run(model_dir: str, records: str, out: str) -> None:
    """Writes the TF version and both signatures' outputs for the first ``RECORDS`` examples to ``out``."""
    import tensorflow as tf

    serialized = [record.numpy() for record in tf.data.TFRecordDataset(records).take(RECORDS)]
    images = [tf.train.Example.FromString(s).features.feature["image"].bytes_list.value[0] for s in serialized]
    model = tf.saved_model.load(model_dir)
    by_example = model.signatures["serving_default"](examples=tf.constant(serialized))
    by_image = model.signatures["serving_image"](image=tf.constant(images))
    result = {
        "tensorflow": tf.__version__,
        "examples": by_example["probabilities"].numpy().tolist(),
        "images": by_image["probabilities"].numpy().tolist(),
        "classes": by_example["classes"].numpy().tolist(),
    }
    with open(out, "w") as f:
        json.dump(result, f)
    print(f"TensorFlow {tf.__version__} loaded {model_dir}: {len(serialized)} examples through both signatures")


def compare(first: str, second: str) -> int:
    """0 when both files hold the same classes and probabilities within ``TOLERANCE``, else 1."""
    with open(first) as f, open(second) as g:
        a, b = json.load(f), json.load(g)
    rows = [(ra, rb) for key in ("examples", "images") for ra, rb in zip(a[key], b[key], strict=True)]
    worst = max(abs(x - y) for ra, rb in rows for x, y in zip(ra, rb, strict=True))
    classes = "equal" if a["classes"] == b["classes"] else "DIFFERENT"
    print(
        f"TensorFlow {a['tensorflow']} vs {b['tensorflow']}: classes {classes} on {len(a['classes'])} examples, "
        f"largest probability difference {worst:.2g}"
    )
    return 0 if classes == "equal" and worst <= TOLERANCE else 1


if __name__ == "__main__":
    command, *paths = sys.argv[1:]
    if command == "run":
        run(*paths)
    else:
        sys.exit(compare(*paths))
