"""The REST server (a real uvicorn process on loopback) and the predict CLI on the model the MNIST run pushed."""

import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import types

import httpx
import numpy as np
import pytest
import tensorflow as tf

from data import format as data_format
from models import features
from models.features import EXAMPLES_SIGNATURE, IMAGE_SIGNATURE
from serving import predict as predict_cli
from serving import versions
from serving.process import ServerProcess
from serving.server import VERSION_HEADER

MODEL = "mnist"
HEIGHT, WIDTH, CHANNELS = 28, 28, 1  # the mnist preset's image shape (checked in the served_copy fixture)
EXAMPLE_COUNT = 64
MAX_BODY_BYTES = 1 << 20
MAX_INSTANCES = 64
POLL_SECONDS = 0.2
EXAMPLES_INPUT = "examples"  # serving_default's input name (models/training.py export)
WAIT_S = 600  # bounds every wait for the server, so that a broken server fails the test instead of hanging it

STATUS = f"/v1/models/{MODEL}"
PREDICT = f"/v1/models/{MODEL}:predict"
ZEROS = [[[0] * CHANNELS] * WIDTH] * HEIGHT


def b64(data: bytes) -> dict:
    """TF Serving's JSON form of a binary value."""
    return {"b64": base64.b64encode(data).decode()}


def wait_for(condition, what: str):
    """Polls ``condition`` until it returns something true; fails the test after WAIT_S seconds."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(POLL_SECONDS)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def served_copy(mnist_run, tmp_path_factory):
    """A private serving folder holding a copy of the newest version the shared run pushed.

    Other modules re-run the pipeline and may push more versions into the run's own folder.
    """
    assert tuple(mnist_run.config.image_shape) == (HEIGHT, WIDTH, CHANNELS)
    version, path = versions.resolve(mnist_run.config.serving_dir)
    serving_dir = tmp_path_factory.mktemp("serving")
    shutil.copytree(path, serving_dir / str(version))
    return types.SimpleNamespace(dir=str(serving_dir), version=version, path=str(serving_dir / str(version)))


@pytest.fixture(scope="module")
def examples(mnist_run):
    """The first EXAMPLE_COUNT MNIST examples: serialized tf.Examples and their HWC uint8 images."""
    pattern = os.path.join(mnist_run.data_root, "*" + data_format.RECORD_SUFFIX)
    records = list(itertools.islice(data_format.read_records(pattern), EXAMPLE_COUNT))
    images = np.stack(
        [
            np.frombuffer(record.features.feature[features.IMAGE].bytes_list.value[0], np.uint8).reshape(
                [record.features.feature[key].int64_list.value[0] for key in features.SHAPE_KEYS]
            )
            for record in records
        ]
    )
    return types.SimpleNamespace(serialized=[record.SerializeToString() for record in records], images=images)


@pytest.fixture(scope="module")
def expected(served_copy, examples):
    """In-process predictions: the SavedModel's serving_default signature on the serialized examples."""
    loaded = tf.saved_model.load(served_copy.path)
    signature = loaded.signatures[tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
    (input_name,) = signature.structured_input_signature[1]
    outputs = signature(**{input_name: tf.constant(examples.serialized)})
    return {name: tensor.numpy() for name, tensor in outputs.items()}


@pytest.fixture(scope="module")
def server(served_copy, tmp_path_factory):
    """``python -m serving.server`` on a free loopback port, serving the private copy."""
    log_path = str(tmp_path_factory.mktemp("server-log") / "server.log")
    limits = ["--max-body-bytes", str(MAX_BODY_BYTES), "--max-instances", str(MAX_INSTANCES)]
    with ServerProcess(served_copy.dir, MODEL, log_path, ["--poll-seconds", str(POLL_SECONDS), *limits]) as process:
        yield process


@pytest.fixture(scope="module")
def http():
    """A keep-alive HTTP client; its timeout only guards against a hang."""
    with httpx.Client(timeout=120) as client:
        yield client


def assert_predictions_match(predictions: list, expected: dict, indexes) -> None:
    """Each prediction object equals the in-process outputs of the example at the same position of ``indexes``."""
    assert len(predictions) == len(indexes)
    classes = [p[features.CLASSES] for p in predictions]
    assert classes == expected[features.CLASSES][indexes].tolist()
    probabilities = np.array([p[features.PROBABILITIES] for p in predictions])
    np.testing.assert_allclose(probabilities, expected[features.PROBABILITIES][indexes], rtol=1e-5, atol=1e-6)


def test_status_and_metadata_report_the_served_version_and_image_shape(server, http, served_copy):
    status = http.get(server.url + STATUS)
    assert status.status_code == 200
    (version_status,) = status.json()["model_version_status"]
    assert version_status["version"] == str(served_copy.version)
    assert version_status["state"] == "AVAILABLE"
    metadata = http.get(f"{server.url}/v1/models/{MODEL}/versions/{served_copy.version}/metadata").json()
    assert metadata["model_spec"] == {"name": MODEL, "signature_name": "", "version": str(served_copy.version)}
    assert metadata["metadata"]["image_shape"] == [HEIGHT, WIDTH, CHANNELS]
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY in signatures
    assert any(list(s["inputs"]) == [features.IMAGE] for s in signatures.values())


INSTANCE_FORMS = {
    "pixels-hwc": lambda image, serialized: image.tolist(),
    "pixels-hw": lambda image, serialized: image[..., 0].tolist(),
    "b64-raw": lambda image, serialized: b64(image.tobytes()),
    "b64-png": lambda image, serialized: b64(tf.io.encode_png(image).numpy()),
    "b64-example": lambda image, serialized: b64(serialized),
    "named-image-pixels": lambda image, serialized: {features.IMAGE: image.tolist()},
    "named-image-b64": lambda image, serialized: {features.IMAGE: b64(image.tobytes())},
    "named-examples": lambda image, serialized: {EXAMPLES_INPUT: b64(serialized)},
}


@pytest.mark.parametrize("form", sorted(INSTANCE_FORMS))
@pytest.mark.parametrize("columnar", [False, True], ids=["rows", "columns"])
def test_http_predictions_equal_in_process_predictions(server, http, examples, expected, form, columnar):
    indexes = list(range(EXAMPLE_COUNT))
    instances = [INSTANCE_FORMS[form](examples.images[i], examples.serialized[i]) for i in indexes]
    body = {"inputs": instances} if columnar else {"instances": instances}
    response = http.post(server.url + PREDICT, json=body)
    assert response.status_code == 200, response.text
    if columnar:
        outputs = response.json()["outputs"]
        rows = [dict(zip(outputs, values, strict=True)) for values in zip(*outputs.values(), strict=True)]
        assert_predictions_match(rows, expected, indexes)
    else:
        assert_predictions_match(response.json()["predictions"], expected, indexes)


def test_columnar_named_input_and_signature_name_and_version_path(server, http, examples, expected, served_copy):
    indexes = [3, 1, 4, 1, 5]
    by_name = http.post(
        server.url + PREDICT, json={"inputs": {EXAMPLES_INPUT: [b64(examples.serialized[i]) for i in indexes]}}
    )
    assert by_name.status_code == 200, by_name.text
    assert by_name.json()["outputs"][features.CLASSES] == expected[features.CLASSES][indexes].tolist()
    # TF Serving's own convention for this model: a bare b64 value is a serialized tf.Example.
    tf_serving = http.post(
        f"{server.url}/v1/models/{MODEL}/versions/{served_copy.version}:predict",
        json={
            "signature_name": EXAMPLES_SIGNATURE,
            "instances": [b64(examples.serialized[i]) for i in indexes],
        },
    )
    assert tf_serving.status_code == 200, tf_serving.text
    assert tf_serving.headers[VERSION_HEADER] == str(served_copy.version)
    assert_predictions_match(tf_serving.json()["predictions"], expected, indexes)


def _example_without_image() -> bytes:
    """A serialized tf.Example with a label and no image."""
    label = tf.train.Feature(int64_list=tf.train.Int64List(value=[3]))
    return tf.train.Example(features=tf.train.Features(feature={features.LABEL: label})).SerializeToString()


BAD_REQUESTS = [
    pytest.param("POST", PREDICT, b'{"instances": [', 400, "malformed JSON", id="malformed-json"),
    pytest.param("POST", PREDICT, b"\xff\xfe{}", 400, "malformed JSON", id="not-utf8"),
    pytest.param("POST", PREDICT, b"[" * 100_000 + b"]" * 100_000, 400, "malformed JSON", id="nested-too-deep"),
    pytest.param("POST", PREDICT, b"[1, 2]", 400, "JSON object", id="not-an-object"),
    pytest.param("POST", PREDICT, {}, 400, "exactly one of", id="no-instances"),
    pytest.param("POST", PREDICT, {"instances": [ZEROS], "inputs": [ZEROS]}, 400, "exactly one of", id="both"),
    pytest.param("POST", PREDICT, {"instances": []}, 400, "instances is empty", id="empty-instances"),
    pytest.param("POST", PREDICT, {"inputs": {features.IMAGE: []}}, 400, "is empty", id="empty-inputs"),
    pytest.param("POST", PREDICT, {"instances": ZEROS[0][0][0]}, 400, "must be a list", id="instances-not-list"),
    pytest.param("POST", PREDICT, {"instances": [ZEROS[:-1]]}, 400, "shape 28x28x1 or 28x28", id="wrong-shape"),
    pytest.param("POST", PREDICT, {"instances": [ZEROS + [[0]]]}, 400, "not ragged", id="ragged"),
    pytest.param("POST", PREDICT, {"instances": [[["x"] * WIDTH] * HEIGHT]}, 400, "integers", id="string-pixels"),
    pytest.param("POST", PREDICT, {"instances": [[[0.5] * WIDTH] * HEIGHT]}, 400, "integers", id="float-pixels"),
    pytest.param("POST", PREDICT, {"instances": [[[256] * WIDTH] * HEIGHT]}, 400, "0..255", id="pixel-over-255"),
    pytest.param("POST", PREDICT, {"instances": [[[-1] * WIDTH] * HEIGHT]}, 400, "0..255", id="negative-pixel"),
    pytest.param("POST", PREDICT, {"instances": ["7"]}, 400, "pixel array", id="string-instance"),
    pytest.param("POST", PREDICT, {"instances": [{"b64": "not base64!"}]}, 400, "invalid base64", id="bad-base64"),
    pytest.param("POST", PREDICT, {"instances": [b64(bytes(100))]}, 400, "not 784 raw pixel bytes", id="b64-size"),
    pytest.param(
        "POST",
        PREDICT,
        {"signature_name": IMAGE_SIGNATURE, "instances": [b64(bytes(100))]},
        400,
        "expected 784 raw pixel bytes",
        id="image-signature-b64-size",
    ),
    pytest.param(
        "POST",
        PREDICT,
        {"signature_name": EXAMPLES_SIGNATURE, "instances": [ZEROS]},
        400,
        "tf.Example",
        id="examples-signature-pixels",
    ),
    pytest.param(
        "POST", PREDICT, {"signature_name": "nope", "instances": [ZEROS]}, 400, "unknown signature_name", id="sig"
    ),
    pytest.param("POST", PREDICT, {"instances": [{"pixels": ZEROS}]}, 400, "unknown input 'pixels'", id="bad-key"),
    pytest.param(
        "POST",
        PREDICT,
        {"instances": [{EXAMPLES_INPUT: b64(_example_without_image())}]},
        400,
        "no 'image' feature",
        id="example-without-image",
    ),
    pytest.param(
        "POST",
        PREDICT,
        {"inputs": {features.IMAGE: [ZEROS], EXAMPLES_INPUT: []}},
        400,
        "must name one input",
        id="two-inputs",
    ),
    pytest.param("POST", PREDICT, {"instances": [ZEROS] * 65}, 400, "the limit is 64", id="too-many-instances"),
    pytest.param("POST", PREDICT, b" " * (2 * MAX_BODY_BYTES), 413, "the limit is", id="oversized-body"),
    pytest.param("POST", "/v1/models/nope:predict", {"instances": [ZEROS]}, 404, "unknown model", id="model"),
    pytest.param("GET", "/v1/models/nope", None, 404, "unknown model", id="status-unknown-model"),
    pytest.param("POST", f"{STATUS}/versions/1:predict", {"instances": [ZEROS]}, 404, "not served", id="version"),
    pytest.param("GET", f"{STATUS}/versions/1/metadata", None, 404, "not served", id="metadata-unknown-version"),
    pytest.param("POST", f"{STATUS}/versions/x:predict", {"instances": [ZEROS]}, 400, "integer", id="version-nan"),
    pytest.param("POST", STATUS, {"instances": [ZEROS]}, 405, "Method Not Allowed", id="wrong-method"),
    pytest.param("GET", "/v2/models", None, 404, "Not Found", id="unknown-route"),
]


@pytest.mark.parametrize("method, path, body, status, message", BAD_REQUESTS)
def test_bad_input_gets_a_4xx_saying_why_and_the_server_keeps_serving(
    server, http, method, path, body, status, message
):
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    response = http.request(method, server.url + path, content=content)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert http.post(server.url + PREDICT, json={"instances": [ZEROS]}).status_code == 200


def test_concurrent_load_answers_every_request(server, examples, expected):
    clients, requests_each = 8, 200
    failures, answered = [], []
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(timeout=120) as http:
            for request in range(requests_each):
                index = (number * requests_each + request) % EXAMPLE_COUNT
                response = http.post(server.url + PREDICT, json={"instances": [b64(examples.images[index].tobytes())]})
                with lock:
                    answered.append(response.status_code)
                    ok = response.status_code == 200 and response.json()["predictions"][0][features.CLASSES] == int(
                        expected[features.CLASSES][index]
                    )
                    if not ok:
                        failures.append((index, response.status_code, response.text))

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answered) == clients * requests_each
    assert failures == []


def test_predict_cli_on_a_newline_delimited_json_instances_file(served_copy, examples, expected, tmp_path):
    indexes = list(range(8))
    forms = ["pixels-hwc", "b64-raw", "b64-example", "named-examples"]
    path = tmp_path / "instances.json"
    path.write_text(
        "\n".join(
            json.dumps(INSTANCE_FORMS[forms[i % len(forms)]](examples.images[i], examples.serialized[i]))
            for i in indexes
        )
        + "\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "serving.predict", "--model-dir", served_copy.dir, "--json-instances", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert_predictions_match([json.loads(line) for line in done.stdout.splitlines()], expected, indexes)


def test_predict_cli_on_an_instances_object_and_one_version_folder(served_copy, examples, expected, tmp_path, capsys):
    indexes = [9, 8, 7]
    path = tmp_path / "request.json"
    instances = [b64(examples.serialized[i]) for i in indexes]
    path.write_text(json.dumps({"signature_name": EXAMPLES_SIGNATURE, "instances": instances}))
    assert predict_cli.main(["--model-dir", served_copy.path, "--json-instances", str(path)]) == 0
    assert_predictions_match([json.loads(line) for line in capsys.readouterr().out.splitlines()], expected, indexes)


def test_predict_cli_names_the_bad_line(served_copy, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(ZEROS) + "\n{not json\n")
    assert predict_cli.main(["--model-dir", served_copy.dir, "--json-instances", str(path)]) == 2
    assert f"{path} line 2: malformed JSON" in capsys.readouterr().err


def test_only_complete_numbered_version_folders_count(tmp_path):
    (tmp_path / "5" / versions.VARIABLES_DIR).mkdir(parents=True)
    (tmp_path / "5" / versions.SAVED_MODEL_FILE).write_bytes(b"")
    (tmp_path / "9").mkdir()  # still being written: no graph, no variables
    (tmp_path / "9" / versions.SAVED_MODEL_FILE).write_bytes(b"")
    (tmp_path / "latest" / versions.VARIABLES_DIR).mkdir(parents=True)
    (tmp_path / "latest" / versions.SAVED_MODEL_FILE).write_bytes(b"")
    assert versions.list_versions(str(tmp_path)) == {5: str(tmp_path / "5")}
    assert versions.resolve(str(tmp_path)) == (5, str(tmp_path / "5"))


def served_version(server, http) -> int:
    """The version GET /v1/models/{name} reports."""
    return int(http.get(server.url + STATUS).json()["model_version_status"][0]["version"])


def test_a_version_that_fails_to_load_is_logged_and_the_old_one_keeps_serving(server, http, served_copy):
    broken = os.path.join(served_copy.dir, str(served_copy.version + 1))
    os.makedirs(os.path.join(broken, versions.VARIABLES_DIR))
    with open(os.path.join(broken, versions.SAVED_MODEL_FILE), "wb") as f:
        f.write(b"not a SavedModel")
    wait_for(lambda: f"failed to load version {served_copy.version + 1}" in server.log(), "the failed load's log line")
    assert served_version(server, http) == served_copy.version
    assert http.post(server.url + PREDICT, json={"instances": [ZEROS]}).status_code == 200


def test_a_newly_pushed_version_is_swapped_in_during_traffic(server, http, served_copy, examples, expected):
    new_version = served_copy.version + 2  # above the broken one the previous test left
    index = 5
    body = {"instances": [examples.images[index].tolist()]}
    results = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                response = client.post(server.url + PREDICT, json=body)
                results.append((response.status_code, response.headers.get(VERSION_HEADER), response.text))

    def answered_by(version: int) -> int:
        return sum(1 for _, answered, _ in results if answered == str(version))

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        wait_for(lambda: answered_by(served_copy.version) >= 5, "requests to the old version")
        # A plain copy into the final folder, as the Pusher writes: the server must wait for it to finish.
        shutil.copytree(served_copy.path, os.path.join(served_copy.dir, str(new_version)))
        wait_for(lambda: served_version(server, http) == new_version, "the server to report the new version")
        wait_for(lambda: answered_by(new_version) >= 5, "requests to the new version")
    finally:
        stop.set()
        sender.join()
    assert [r for r in results if r[0] != 200] == []
    assert {answered for _, answered, _ in results} == {str(served_copy.version), str(new_version)}
    for _, _, text in results:
        assert_predictions_match(json.loads(text)["predictions"], expected, [index])
