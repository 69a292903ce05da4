"""The REST server (a real uvicorn process on loopback, batching on) and the predict CLI, on the MNIST run's model.

test_serving_limits.py has the hostile clients, test_serving_versions.py the version policy; both use these helpers.
"""

import base64
import gc
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import types
import warnings
import zlib

import httpx
import numpy as np
import pytest
import tensorflow as tf
from conftest import WAIT_S

from benchmarks.server_process import ServerProcess, copy_broken_version
from data import format as data_format
from models import features
from models.features import EXAMPLES_SIGNATURE, IMAGE_SIGNATURE
from serving import predict as predict_cli
from serving import versions
from serving.app import VERSION_HEADER

MODEL = "mnist"
HEIGHT, WIDTH, CHANNELS = 28, 28, 1  # the mnist preset's image shape (checked in the served_copy fixture)
EXAMPLE_COUNT = 64
MAX_BODY_BYTES = 1 << 20
MAX_INSTANCES = 64
MAX_BATCH_SIZE = 8
POLL_SECONDS = 0.2
EXAMPLES_INPUT = "examples"  # serving_default's input name (models/training.py export)

STATUS = f"/v1/models/{MODEL}"
PREDICT = f"/v1/models/{MODEL}:predict"
ZEROS = [[[0] * CHANNELS] * WIDTH] * HEIGHT


def with_pixel(value) -> list:
    """A height x width pixel array of zeros whose pixel [0][0] is ``value``."""
    return [[value] + [0] * (WIDTH - 1)] + [[0] * WIDTH] * (HEIGHT - 1)


def nested(value, depth: int):
    """``value`` inside ``depth`` one-element lists."""
    for _ in range(depth):
        value = [value]
    return value


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
    # A batch timeout, so that concurrent requests (test_batched_concurrent_requests_...) meet in batches.
    batching = ["--enable-batching", "--max-batch-size", str(MAX_BATCH_SIZE), "--batch-timeout-micros", "2000"]
    with ServerProcess(
        served_copy.dir, MODEL, log_path, ["--poll-seconds", str(POLL_SECONDS), *limits, *batching]
    ) as process:
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
    # MIME base64 (line breaks every 76 characters) and URL-safe base64 without padding decode like the standard form.
    "b64-mime-lines": lambda image, serialized: {"b64": base64.encodebytes(image.tobytes()).decode()},
    "b64-urlsafe": lambda image, serialized: {"b64": base64.urlsafe_b64encode(image.tobytes()).decode().rstrip("=")},
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
    pytest.param("POST", PREDICT, {"instances": [ZEROS + [[0]]]}, 400, "has 29 entries, where 28 belong", id="ragged"),
    pytest.param("POST", PREDICT, {"instances": [with_pixel(2**63)]}, 400, "[0][0] is 9223372036854775808", id="2^63"),
    pytest.param("POST", PREDICT, {"instances": [with_pixel(2**64)]}, 400, "is 18446744073709551616", id="2^64"),
    pytest.param("POST", PREDICT, {"instances": [with_pixel(None)]}, 400, "pixel [0][0] is null", id="null-pixel"),
    pytest.param("POST", PREDICT, {"instances": [with_pixel(True)]}, 400, "is true (a boolean)", id="true-pixel"),
    pytest.param(
        "POST", PREDICT, {"instances": [[[nested(0, 38)] * WIDTH] * HEIGHT]}, 400, "[0][0][0] is an array", id="40-deep"
    ),
    pytest.param("POST", PREDICT, {"instances": [[["x"] * WIDTH] * HEIGHT]}, 400, "integers", id="string-pixels"),
    pytest.param("POST", PREDICT, {"instances": [[[0.5] * WIDTH] * HEIGHT]}, 400, "integers", id="float-pixels"),
    pytest.param("POST", PREDICT, {"instances": [[[256] * WIDTH] * HEIGHT]}, 400, "0..255", id="pixel-over-255"),
    pytest.param("POST", PREDICT, {"instances": [[[-1] * WIDTH] * HEIGHT]}, 400, "0..255", id="negative-pixel"),
    pytest.param("POST", PREDICT, {"instances": ["7"]}, 400, "pixel array", id="string-instance"),
    pytest.param("POST", PREDICT, {"instances": [{"b64": "not base64!"}]}, 400, "'!' at offset 9", id="bad-base64"),
    pytest.param("POST", PREDICT, {"instances": [{"b64": "ab+_"}]}, 400, "mixes the standard", id="b64-alphabets"),
    pytest.param("POST", PREDICT, {"instances": [{"b64": "abcde"}]}, 400, "do not make whole bytes", id="b64-length"),
    pytest.param("POST", PREDICT, {"instances": [{"b64": "é"}]}, 400, "not a base64 character", id="b64-non-ascii"),
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
    pytest.param("GET", f"{STATUS}/versions/%C2%B2", None, 400, "ASCII digits, got '²'", id="unicode-digit-version"),
    pytest.param("GET", f"{STATUS}/versions/{'9' * 5000}", None, 400, "(5000 characters)", id="5000-digit-version"),
    pytest.param("GET", f"{STATUS}/versions/{2**63}", None, 400, "64-bit integer", id="version-over-int64"),
    pytest.param("GET", PREDICT, None, 405, "predict takes POST", id="predict-with-get"),
    pytest.param("GET", f"{STATUS}/versions/1:predict", None, 405, "predict takes POST", id="version-predict-get"),
    pytest.param("POST", STATUS, {"instances": [ZEROS]}, 405, "Method Not Allowed", id="wrong-method"),
    pytest.param("GET", "/v2/models", None, 404, "Not Found", id="unknown-route"),
    # A client's long string comes back cut short.
    pytest.param("GET", f"/v2/{'z' * 5000}", None, 404, "(5004 characters)", id="long-unknown-route"),
    pytest.param("GET", f"/v1/models/{'m' * 5000}", None, 404, "(5000 characters): this server", id="long-model"),
    pytest.param(
        "POST",
        PREDICT,
        {"instances": [with_pixel("x" * 10_000)]},
        400,
        "(10000 characters) (a string)",
        id="long-pixel",
    ),
    pytest.param("POST", PREDICT, {"instances": [{"y" * 10_000: ZEROS}]}, 400, "(10000 characters)", id="long-input"),
    pytest.param(
        "POST",
        PREDICT,
        {"signature_name": "s" * 10_000, "instances": [ZEROS]},
        400,
        "(10000 characters)",
        id="long-sig",
    ),
    pytest.param(
        "POST",
        PREDICT,
        {"inputs": {f"k{i}": [] for i in range(1000)}},
        400,
        "got 1000: 'k0', 'k1', 'k10', ...",
        id="keys",
    ),
]


@pytest.mark.parametrize("method, path, body, status, message", BAD_REQUESTS)
def test_bad_input_gets_a_4xx_saying_why_and_the_server_keeps_serving(
    server, http, method, path, body, status, message
):
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    response = http.request(method, server.url + path, content=content)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert len(response.content) < 1024  # the error names what was wrong, without repeating the request
    assert http.post(server.url + PREDICT, json={"instances": [ZEROS]}).status_code == 200


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(height: int, width: int, image_data: bytes) -> bytes:
    """A grayscale 8-bit PNG declaring ``height`` x ``width``, with ``image_data`` as its only IDAT chunk (if any)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    data = png_chunk(b"IDAT", image_data) if image_data else b""
    return b"\x89PNG\r\n\x1a\n" + header + data + png_chunk(b"IEND", b"")


def with_chunks(data: bytes, chunks: bytes) -> bytes:
    """The PNG ``data`` with ``chunks`` inserted right after its IHDR chunk."""
    after_header = len(b"\x89PNG\r\n\x1a\n") + 25  # the signature, then IHDR: length, type, 13 bytes, CRC
    return data[:after_header] + chunks + data[after_header:]


ZEROS_PNG = png(HEIGHT, WIDTH, zlib.compress(bytes(HEIGHT * (1 + WIDTH))))  # each row: filter byte 0, then pixels
# Each PNG's header or chunks are wrong: only a check made before decoding gives these messages.
HOSTILE_PNGS = [
    pytest.param(png(23170, 23170, b""), "the PNG is 23170x23170, the model takes 28x28", id="huge"),
    pytest.param(png(HEIGHT + 1, WIDTH, b"garbage"), "the PNG is 29x28, the model takes 28x28", id="wrong-size"),
    pytest.param(png(HEIGHT, WIDTH, b"garbage"), "bad PNG", id="right-size-bad-data"),
    pytest.param(png(HEIGHT, WIDTH, b"")[:20], "bad PNG: 20 bytes end before its IHDR header", id="truncated"),
    pytest.param(ZEROS_PNG[:-12], f"bad PNG: its {len(ZEROS_PNG) - 12} bytes end without an IEND", id="no-iend"),
    pytest.param(ZEROS_PNG[:-20], "bad PNG: chunk b'IDAT' at byte 33 runs past its end", id="cut-in-image-data"),
    pytest.param(
        with_chunks(ZEROS_PNG, png_chunk(b"IDAT", bytes(1 << 16))), "bad PNG: more than", id="too-much-image-data"
    ),
]


@pytest.mark.parametrize("data, message", HOSTILE_PNGS)
def test_a_png_header_and_chunks_are_checked_against_the_model_before_decoding(server, http, data, message):
    response = http.post(server.url + PREDICT, json={"instances": [{features.IMAGE: b64(data)}]})
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"instances[0]: {message}")
    assert http.post(server.url + PREDICT, json={"instances": [ZEROS]}).status_code == 200


def test_compressed_text_and_profile_chunks_of_a_png_are_dropped_unread(server, http, examples, expected):
    inflated = 7_900_000  # per chunk: under libpng's 8 MB limit on one chunk, which it would inflate in full
    text = zlib.compress(b"a" * inflated, 9)
    bombs = png_chunk(b"zTXt", b"Comment\0\0" + text) * 38 + png_chunk(b"iTXt", b"Comment\0\1\0\0\0" + text)
    bombs += png_chunk(b"iCCP", b"profile\0\0" + text)
    index = 4
    data = with_chunks(tf.io.encode_png(examples.images[index]).numpy(), bombs)
    assert len(data) < MAX_BODY_BYTES // 2  # about 300 KB, which inflates to 40 x 7.9 MB
    before = server.memory_mb("VmHWM")  # the server's peak resident memory so far
    response = http.post(server.url + PREDICT, json={"instances": [{features.IMAGE: b64(data)}]})
    assert response.status_code == 200, response.text
    assert_predictions_match(response.json()["predictions"], expected, [index])
    assert server.memory_mb("VmHWM") - before < 40 * inflated / 4 / 2**20, "the text chunks were inflated"


@pytest.fixture(scope="module")
def unbatched(served_copy, examples):
    """In-process predictions of serving_image, one image per call: what a batched answer must equal."""
    signature = tf.saved_model.load(served_copy.path).signatures[IMAGE_SIGNATURE]
    rows = [signature(**{features.IMAGE: tf.constant([image.tobytes()])}) for image in examples.images]
    return {name: np.concatenate([row[name].numpy() for row in rows]) for name in rows[0]}


def test_batched_concurrent_requests_each_get_exactly_their_own_predictions(server, examples, unbatched):
    clients, requests_each = 16, 60
    forms = ["b64-raw", "pixels-hw", "b64-png", "b64-example"]
    failures, answered = [], []
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(timeout=120) as http:
            for request in range(requests_each):
                # 1 to 3 instances from a sliding window, so that neighbouring requests in a batch differ.
                start, size = (number * 7 + request * 3) % EXAMPLE_COUNT, 1 + (number + request) % 3
                indexes = [(start + k) % EXAMPLE_COUNT for k in range(size)]
                form = INSTANCE_FORMS[forms[(number + request) % len(forms)]]
                instances = [form(examples.images[i], examples.serialized[i]) for i in indexes]
                response = http.post(server.url + PREDICT, json={"instances": instances})
                with lock:
                    answered.append(response.status_code)
                    if response.status_code != 200:
                        failures.append((indexes, response.status_code, response.text))
                        continue
                    try:
                        assert_predictions_match(response.json()["predictions"], unbatched, indexes)
                    except AssertionError as e:
                        failures.append((indexes, str(e)))

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answered) == clients * requests_each
    assert failures == []
    # And they were batched: the server logs each batch that holds more requests than any before it.
    batched = re.findall(rf"version {served_version(server)}: a batch of (\d+) requests", server.log())
    assert max(map(int, batched), default=1) > 1


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


def test_predict_cli_on_a_pretty_printed_json_array(served_copy, examples, expected, tmp_path, capsys):
    indexes = [2, 7, 1]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps([b64(examples.images[i].tobytes()) for i in indexes], indent=2))
    assert predict_cli.main(["--model-dir", served_copy.dir, "--json-instances", str(path)]) == 0
    assert_predictions_match([json.loads(line) for line in capsys.readouterr().out.splitlines()], expected, indexes)


def corrupted_copy(served_copy, root) -> str:
    """A serving folder whose one version has its variables cut short."""
    path = os.path.join(root, "broken", "7")
    copy_broken_version(served_copy.path, path)
    return os.path.dirname(path)


CLI_MISTAKES = [
    pytest.param(lambda d, t: ["--json-instances", str(t)], "a folder, not a file", id="instances-folder"),
    pytest.param(lambda d, t: ["--json-instances", str(t / "none.json")], "no such file", id="no-file"),
    pytest.param(lambda d, t: ["--json-instances", str(t / "latin1.json")], "not UTF-8 text", id="not-utf8"),
    pytest.param(lambda d, t: ["--batch-size", "0"], "--batch-size must lie in [1, 65536], got 0", id="batch-0"),
    pytest.param(lambda d, t: ["--batch-size", "-1"], "--batch-size must lie in [1, 65536]", id="batch-negative"),
    pytest.param(lambda d, t: ["--model-dir", d], "cannot load the SavedModel", id="corrupted-model"),
    pytest.param(lambda d, t: ["--model-dir", str(t / "unicode")], "no model version there", id="unicode-version"),
]


@pytest.mark.parametrize("flags, message", CLI_MISTAKES)
def test_predict_cli_refuses_a_bad_flag_file_or_model_in_one_line(served_copy, tmp_path, capsys, flags, message):
    (tmp_path / "instances.json").write_text(json.dumps(ZEROS) + "\n")
    (tmp_path / "latin1.json").write_bytes('{"b64": "é"}\n'.encode("latin-1"))
    shutil.copytree(served_copy.path, tmp_path / "unicode" / "²")
    defaults = {"--model-dir": served_copy.dir, "--json-instances": str(tmp_path / "instances.json")}
    given = flags(corrupted_copy(served_copy, tmp_path), tmp_path)
    argv = [part for flag, value in defaults.items() if flag not in given for part in (flag, value)] + given
    assert predict_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("serving.predict: error: ") and err.count("\n") == 1, err
    assert message in err


def test_predict_cli_skips_a_folder_whose_name_is_not_a_version(served_copy, tmp_path, capsys):
    serving_dir = tmp_path / "serving"
    shutil.copytree(served_copy.path, serving_dir / "²")
    shutil.copytree(served_copy.path, serving_dir / "3")
    (tmp_path / "instances.json").write_text(json.dumps(ZEROS) + "\n")
    argv = ["--model-dir", str(serving_dir), "--json-instances", str(tmp_path / "instances.json")]
    assert predict_cli.main(argv) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_only_complete_numbered_version_folders_count(tmp_path):
    (tmp_path / "5" / versions.VARIABLES_DIR).mkdir(parents=True)
    (tmp_path / "5" / versions.SAVED_MODEL_FILE).write_bytes(b"")
    (tmp_path / "9").mkdir()  # still being written: no graph, no variables
    (tmp_path / "9" / versions.SAVED_MODEL_FILE).write_bytes(b"")
    for name in ["latest", "²", "٣", "1" * 20, "+7", " 8"]:  # not ASCII digits, or past int64: never versions
        (tmp_path / name / versions.VARIABLES_DIR).mkdir(parents=True)
        (tmp_path / name / versions.SAVED_MODEL_FILE).write_bytes(b"")
    assert versions.list_versions(str(tmp_path)) == {5: str(tmp_path / "5")}
    assert versions.scan(str(tmp_path))[1] == sorted([" 8", "+7", "1" * 20, "latest", "²", "٣"])
    assert versions.resolve(str(tmp_path)) == (5, str(tmp_path / "5"))


def test_a_server_that_dies_while_starting_leaves_no_log_file_open(tmp_path):
    process = ServerProcess(str(tmp_path / "missing"), MODEL, str(tmp_path / "server.log"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(RuntimeError, match="no such folder"):
            process.start()
        del process
        gc.collect()  # an open file left behind warns as it is freed
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def served_version(server) -> int:
    """The newest version GET /v1/models/{name} reports AVAILABLE."""
    return max(v for v, (state, _) in server.version_states().items() if state == "AVAILABLE")


@pytest.fixture(scope="module")
def new_versions(served_copy):
    """Version numbers above any a test of this module pushed: each test's push is the newest, whatever ran before."""
    return itertools.count(served_copy.version + 1)


class Traffic:
    """Unversioned predicts of one image from a thread, one after another, until the block ends; ``results`` holds
    each answer's status, answering version and body."""

    def __init__(self, server, body: dict):
        self.server, self.body, self.results = server, body, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send)

    def _send(self) -> None:
        with httpx.Client(timeout=120) as client:
            while not self._stop.is_set():
                response = client.post(self.server.url + PREDICT, json=self.body)
                self.results.append((response.status_code, response.headers.get(VERSION_HEADER), response.text))

    def answered_by(self, version: int) -> int:
        """How many requests ``version`` answered so far."""
        return sum(1 for _, answered, _ in self.results if answered == str(version))

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def test_a_version_that_fails_to_load_is_logged_and_the_old_one_keeps_serving(server, http, served_copy, new_versions):
    good, broken = served_version(server), next(new_versions)
    copy_broken_version(served_copy.path, os.path.join(served_copy.dir, str(broken)))
    wait_for(lambda: f"failed to load version {broken}" in server.log(), "the failed load's log line")
    assert served_version(server) == good
    state, error = server.version_states()[broken]
    assert state == "END" and "cannot load the SavedModel" in error
    assert http.post(server.url + PREDICT, json={"instances": [ZEROS]}).status_code == 200


def test_a_newly_pushed_version_is_swapped_in_during_traffic_and_the_old_one_unloaded(
    server, http, served_copy, examples, expected, new_versions
):
    old, new = served_version(server), next(new_versions)
    index = 5
    with Traffic(server, {"instances": [examples.images[index].tolist()]}) as traffic:
        wait_for(lambda: traffic.answered_by(old) >= 5, "requests to the old version")
        # A plain copy into the final folder, as the Pusher writes: the server must wait for it to finish.
        shutil.copytree(served_copy.path, os.path.join(served_copy.dir, str(new)))
        wait_for(lambda: served_version(server) == new, "the server to report the new version")
        wait_for(lambda: traffic.answered_by(new) >= 5, "requests to the new version")
    assert [r for r in traffic.results if r[0] != 200] == []
    assert {answered for _, answered, _ in traffic.results} == {str(old), str(new)}
    for _, _, text in traffic.results:
        assert_predictions_match(json.loads(text)["predictions"], expected, [index])
    # END once the old version's objects are freed: the manager holds only a weak reference to it.
    wait_for(lambda: server.version_states()[old][0] == "END", "the old version to be freed")
    assert f"version {old} unloaded" in server.log()


def test_deleting_the_served_version_falls_back_to_the_newest_left_with_no_request_refused(
    server, http, served_copy, new_versions
):
    fallback, deleted = next(new_versions), next(new_versions)
    shutil.copytree(served_copy.path, os.path.join(served_copy.dir, str(deleted)))
    wait_for(lambda: served_version(server) == deleted, "the server to serve the newest version")
    # Below the served version: the latest policy never loads it, nor looks at its files, until the rollback.
    shutil.copytree(served_copy.path, os.path.join(served_copy.dir, str(fallback)))
    with Traffic(server, {"instances": [ZEROS]}) as traffic:
        wait_for(lambda: traffic.answered_by(deleted) >= 5, "requests to the newest version")
        shutil.rmtree(os.path.join(served_copy.dir, str(deleted)))
        wait_for(lambda: traffic.answered_by(fallback) >= 5, "requests to the version left")
    assert [(status, text) for status, _, text in traffic.results if status != 200] == []
    assert {answered for _, answered, _ in traffic.results} == {str(deleted), str(fallback)}
    wait_for(lambda: server.version_states()[deleted][0] == "END", "the deleted version to be freed")
    assert http.post(f"{server.url}{STATUS}/versions/{deleted}:predict", json={"instances": [ZEROS]}).status_code == 404
