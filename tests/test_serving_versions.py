"""TF Serving's version policy: a real server serving the newest two versions side by side, the manager in process
with the specific policy, and the policies' choices.

Every version folder is a copy of the model the shared run pushed: versions differ by number, which the
X-Model-Version header and the status route report.
"""

import os
import shutil
import weakref

import httpx
import pytest
from test_serving import MODEL, POLL_SECONDS, STATUS, WAIT_S, ZEROS, wait_for

from console.errors import UsageError
from serving import versions
from serving.manager import AVAILABLE, END, ModelManager
from serving.model import load
from serving.policy import VersionPolicy, parse
from serving.process import ServerProcess
from serving.server import VERSION_HEADER

NOT_A_VERSION = "²"  # a Unicode digit: str.isdigit() accepts it, int() does not


@pytest.fixture(scope="module")
def pushed(mnist_run):
    """The folder of the newest version the shared run pushed."""
    return versions.resolve(mnist_run.config.serving_dir)[1]


@pytest.fixture(scope="module")
def serving_dir(pushed, tmp_path_factory):
    """Versions 1, 2 and 3, a complete model in a folder that is not a version, and a stray file."""
    root = tmp_path_factory.mktemp("serving-versions")
    for name in ("1", "2", "3", NOT_A_VERSION):
        shutil.copytree(pushed, root / name)
    (root / "notes.txt").write_text("not a version either")
    return root


@pytest.fixture(scope="module")
def server(serving_dir, tmp_path_factory):
    """``python -m serving.server`` serving the newest two versions."""
    log_path = str(tmp_path_factory.mktemp("server-versions-log") / "server.log")
    flags = ["--poll-seconds", str(POLL_SECONDS), "--version-policy", "latest", "--num-versions", "2"]
    with ServerProcess(str(serving_dir), MODEL, log_path, flags) as process:
        yield process


@pytest.fixture(scope="module")
def http():
    """A keep-alive HTTP client; its timeout only guards against a hang."""
    with httpx.Client(timeout=WAIT_S) as client:
        yield client


def states(server, http) -> dict:
    """Each version's state as GET /v1/models/{name} reports it."""
    statuses = http.get(server.url + STATUS).json()["model_version_status"]
    return {int(s["version"]): s["state"] for s in statuses}


def served(server, http) -> set:
    """The versions reported AVAILABLE."""
    return {version for version, state in states(server, http).items() if state == AVAILABLE}


def answered_by(server, http, path: str) -> str:
    """The version that answered a predict on ``path``."""
    response = http.post(server.url + path, json={"instances": [ZEROS]})
    assert response.status_code == 200, response.text
    return response.headers[VERSION_HEADER]


def test_the_newest_two_versions_serve_side_by_side_and_a_folder_that_is_no_version_is_ignored(server, http):
    assert states(server, http) == {3: AVAILABLE, 2: AVAILABLE}
    assert answered_by(server, http, f"{STATUS}/versions/2:predict") == "2"
    assert answered_by(server, http, f"{STATUS}/versions/3:predict") == "3"
    assert answered_by(server, http, f"{STATUS}:predict") == "3"
    metadata = http.get(f"{server.url}{STATUS}/versions/2/metadata").json()
    assert metadata["model_spec"]["version"] == "2"
    older = http.post(f"{server.url}{STATUS}/versions/1:predict", json={"instances": [ZEROS]})
    assert older.status_code == 404
    assert older.json()["error"] == f"version 1 of model {MODEL!r} is not served; served versions: [2, 3]"
    assert f"ignoring {NOT_A_VERSION!r}" in server.log() and "Traceback" not in server.log()


def test_a_deleted_version_is_unloaded_and_the_policy_picks_again(server, http, serving_dir):
    shutil.rmtree(serving_dir / "3")
    wait_for(lambda: served(server, http) == {1, 2}, "versions 1 and 2 to serve")
    assert answered_by(server, http, f"{STATUS}:predict") == "2"
    wait_for(lambda: states(server, http)[3] == END, "version 3 to be freed")


def test_a_new_version_replaces_the_oldest_served_one_and_the_ignored_folder_was_logged_once(
    server, http, serving_dir, pushed
):
    shutil.copytree(pushed, serving_dir / "4")
    wait_for(lambda: served(server, http) == {2, 4}, "versions 2 and 4 to serve")
    assert answered_by(server, http, f"{STATUS}:predict") == "4"
    wait_for(lambda: states(server, http)[1] == END, "version 1 to be freed")
    assert server.log().count(f"ignoring {NOT_A_VERSION!r}") == 1  # once, though polled all along


def test_the_specific_policy_serves_the_listed_versions_and_frees_what_it_unloads(pushed, tmp_path):
    for name in ("1", "2", "3"):
        shutil.copytree(pushed, tmp_path / name)
    loaded = {}

    def loader(version, path):
        model = load(version, path)
        loaded[version] = weakref.ref(model)
        return model

    manager = ModelManager(str(tmp_path), policy=VersionPolicy("specific", versions=frozenset({1, 3})), loader=loader)
    assert manager.poll(settle=False)
    assert sorted(manager.served) == [1, 3] and sorted(loaded) == [1, 3]
    assert manager.get().version == 3 and manager.get(1).version == 1 and manager.get(2) is None
    shutil.rmtree(tmp_path / "3")
    assert manager.poll(settle=False)
    assert sorted(manager.served) == [1]
    assert loaded[3]() is None  # nothing holds the unloaded version: its memory is back
    assert {v: s.state for v, s in manager.status().items()} == {1: AVAILABLE, 3: END}
    assert not manager.poll(settle=False)  # nothing changed on disk: nothing loads again


def test_a_version_is_loaded_only_once_its_files_stop_changing(pushed, tmp_path):
    shutil.copytree(pushed, tmp_path / "1")
    manager = ModelManager(str(tmp_path))
    assert manager.poll(settle=False)
    shutil.copytree(pushed, tmp_path / "2")
    assert not manager.poll()  # first seen: it may still be being written
    os.utime(tmp_path / "2" / versions.SAVED_MODEL_FILE, ns=(1, 1))  # a file still being written
    assert not manager.poll()  # changed since the last poll: still waiting
    assert manager.poll()
    assert sorted(manager.served) == [2]


@pytest.mark.parametrize(
    "policy, available, selected",
    [
        (VersionPolicy(), {1, 5, 3}, {5}),
        (VersionPolicy("latest", num_versions=2), {1, 5, 3}, {5, 3}),
        (VersionPolicy("latest", num_versions=5), {1, 3}, {1, 3}),
        (VersionPolicy("all"), {1, 5, 3}, {1, 5, 3}),
        (VersionPolicy("specific", versions=frozenset({3, 7})), {1, 5, 3}, {3}),
        (VersionPolicy("specific", versions=frozenset({7})), {1, 5, 3}, set()),
    ],
)
def test_each_policy_selects_like_tf_serving(policy, available, selected):
    assert policy.select(available) == selected


@pytest.mark.parametrize(
    "flags, message",
    [
        (("newest", 1, ""), "unknown version policy 'newest'"),
        (("latest", 0, ""), "the latest policy serves at least 1 version, got 0"),
        (("specific", 1, ""), "the specific policy needs the versions to serve"),
        (("specific", 1, "3,x"), "--versions: 'x' is not a version"),
        (("specific", 1, "²"), "--versions: '²' is not a version"),
        (("all", 1, "3"), "versions are listed only with the specific policy"),
    ],
)
def test_a_bad_policy_flag_is_named(flags, message):
    with pytest.raises(UsageError, match=message):
        parse(*flags)


def test_specific_versions_parse_from_a_comma_separated_list():
    assert parse("specific", 1, "3, 12,3").versions == frozenset({3, 12})
