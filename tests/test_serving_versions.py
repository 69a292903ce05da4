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

from benchmarks.server_process import ServerProcess
from serving import OptionError, versions
from serving.app import VERSION_HEADER
from serving.loaded_model import load
from serving.manager import AVAILABLE, END, ENDED_KEPT, ModelManager
from serving.policy import VersionPolicy, parse

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


def states(server) -> dict:
    """Each version's state as GET /v1/models/{name} reports it."""
    return {version: state for version, (state, _) in server.version_states().items()}


def served(server) -> set:
    """The versions reported AVAILABLE."""
    return {version for version, state in states(server).items() if state == AVAILABLE}


def on_disk(serving_dir) -> list:
    """The versions in ``serving_dir``, newest first."""
    return sorted(versions.list_versions(str(serving_dir)), reverse=True)


def answered_by(server, http, path: str) -> str:
    """The version that answered a predict on ``path``."""
    response = http.post(server.url + path, json={"instances": [ZEROS]})
    assert response.status_code == 200, response.text
    return response.headers[VERSION_HEADER]


def test_the_newest_two_versions_serve_side_by_side_and_a_folder_that_is_no_version_is_ignored(server, http):
    assert states(server) == {3: AVAILABLE, 2: AVAILABLE}
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
    deleted = max(served(server))
    shutil.rmtree(serving_dir / str(deleted))
    newest_two = set(on_disk(serving_dir)[:2])
    wait_for(lambda: served(server) == newest_two, f"versions {newest_two} to serve")
    assert answered_by(server, http, f"{STATUS}:predict") == str(max(newest_two))
    wait_for(lambda: states(server)[deleted] == END, f"version {deleted} to be freed")


def test_a_new_version_replaces_the_oldest_served_one_and_the_ignored_folder_was_logged_once(
    server, http, serving_dir, pushed
):
    oldest, newest = sorted(served(server))
    new = max(on_disk(serving_dir) + list(states(server))) + 1  # a number no version had, deleted ones included
    shutil.copytree(pushed, serving_dir / str(new))
    wait_for(lambda: served(server) == {newest, new}, f"versions {newest} and {new} to serve")
    assert answered_by(server, http, f"{STATUS}:predict") == str(new)
    wait_for(lambda: states(server)[oldest] == END, f"version {oldest} to be freed")
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


def test_a_deleted_newest_version_answers_until_the_one_before_it_serves(pushed, tmp_path):
    for name in ("1", "2"):
        shutil.copytree(pushed, tmp_path / name)
    manager = ModelManager(str(tmp_path))  # latest 1: version 1 is never loaded, nor its files looked at
    assert manager.poll(settle=False) and sorted(manager.served) == [2]
    shutil.rmtree(tmp_path / "2")
    manager.poll()  # version 1 is first looked at: it may still be being written, so it waits a poll
    assert sorted(manager.served) == [2]
    assert manager.poll()
    assert sorted(manager.served) == [1]
    assert {v: s.state for v, s in manager.status().items()} == {1: AVAILABLE, 2: END}


def test_a_version_is_reported_available_only_once_it_serves(pushed, tmp_path):
    for name in ("1", "2"):
        shutil.copytree(pushed, tmp_path / name)
    seen = []  # at the start of each load: the versions reported AVAILABLE, and those served

    def loader(version, path):
        available = {v for v, status in manager.status().items() if status.state == AVAILABLE}
        seen.append((version, available, set(manager.served)))
        return load(version, path)

    manager = ModelManager(str(tmp_path), policy=VersionPolicy("latest", num_versions=2), loader=loader)
    assert manager.poll(settle=False)  # both load in this one poll, the newest first
    assert seen == [(2, set(), set()), (1, {2}, {2})]
    assert {v: s.state for v, s in manager.status().items()} == {1: AVAILABLE, 2: AVAILABLE}
    assert sorted(manager.served) == [1, 2]


def test_the_status_forgets_versions_gone_from_disk_but_the_newest_that_ended(tmp_path):
    numbers = range(1, ENDED_KEPT + 3)
    for version in numbers:  # versions that fail to load, at once
        (tmp_path / str(version) / versions.VARIABLES_DIR).mkdir(parents=True)
        (tmp_path / str(version) / versions.SAVED_MODEL_FILE).write_bytes(b"not a SavedModel")
    manager = ModelManager(str(tmp_path), policy=VersionPolicy("all"))
    manager.poll(settle=False)
    assert {v: s.state for v, s in manager.status().items()} == {v: END for v in numbers}  # on disk: all reported
    for version in numbers:
        shutil.rmtree(tmp_path / str(version))
    manager.poll(settle=False)
    assert sorted(manager.status()) == list(numbers)[-ENDED_KEPT:]


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
    with pytest.raises(OptionError, match=message):
        parse(*flags)


def test_specific_versions_parse_from_a_comma_separated_list():
    assert parse("specific", 1, "3, 12,3").versions == frozenset({3, 12})
