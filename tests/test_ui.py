"""The web UI in a real browser: ``make ui`` on the shared MNIST run, Debian's Chromium driven by Selenium.

Every page is checked for console errors and for requests to any host but the UI's, and saved as a
screenshot under this module's output folder. What the pages show is compared with ML Metadata.
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import browser
import pytest
from conftest import PROJECT_ROOT, tree_digest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

import local_runner
from benchmarks.service_process import ServiceProcess
from inspection import history
from inspection.store import RUN_FLAGS, open_store
from local.bookkeeping import writable_store

READY = "/static/ui.css"  # answers whether or not there is a store
WAIT_S = 120  # a page that needs TensorFlow or the model's first prediction, on a busy machine


@pytest.fixture(scope="module")
def runs(mnist_run):
    """The shared run and a second one that changes only the Evaluator's tolerance (the same model: no new push)."""
    second_flags = [*mnist_run.flags, "--regression-tolerance", "0.5"]
    assert local_runner.main(second_flags) == 0
    store = open_store(mnist_run.config.metadata_path)
    second = history.latest_run(store, mnist_run.config.pipeline_name)
    assert second.run_id != mnist_run.first_run.run_id
    return mnist_run, second


@pytest.fixture(scope="module")
def before(runs):
    """Digests of the store and of every artifact, taken before any page is read."""
    run, _ = runs
    with open(run.config.metadata_path, "rb") as f:
        store = hashlib.sha256(f.read()).hexdigest()
    return store, tree_digest(run.config.pipeline_root), tree_digest(run.config.serving_dir)


@pytest.fixture(scope="module")
def ui(runs, before, tmp_path_factory):
    """``make ui`` on the shared run's output root, as the README says to start it."""
    run, _ = runs
    log = tmp_path_factory.mktemp("ui") / "ui.log"

    def command(port: int) -> list:
        flags = "--preset mnist --quick"
        return ["make", "-s", "ui", f"OUTPUT_ROOT={run.root}", f"UI_PORT={port}", f"FLAGS={flags}"]

    with ServiceProcess(command, str(log), READY, cwd=PROJECT_ROOT) as process:
        yield process


@pytest.fixture(scope="module")
def driver():
    chrome = browser.chrome()
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def visit(driver, ui, path: str, shots, name: str, expect_errors: bool = False):
    """Loads a page, saves its screenshot, and checks it logged no error and asked no other host."""
    driver.get(ui.url + path)
    browser.screenshot(driver, shots / f"{name}.png")
    errors = browser.console_errors(driver)
    assert expect_errors or errors == [], errors
    assert browser.requested_hosts(driver) <= {f"127.0.0.1:{ui.port}"}


def test_the_runs_page_lists_both_runs_newest_first_with_their_outcome_and_flags(runs, ui, driver, shots):
    first, second = runs
    visit(driver, ui, "/", shots, "runs")
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.run")
    # Other tests may have run the shared pipeline again: every run in the store is listed, newest first.
    recorded = [r.run_id for r in history.runs(open_store(first.config.metadata_path), first.config.pipeline_name)]
    assert [row.get_attribute("data-run") for row in rows] == recorded[::-1]
    assert recorded[-1] == second.run_id and first.first_run.run_id in recorded
    newest = rows[0].text
    assert "COMPLETE" in newest and "--regression-tolerance 0.5" in newest
    assert f"{len(second.cached)} cached of {len(second.executions)}" in newest
    assert re.search(r"0\.\d{4}", newest)  # the test accuracy


def test_the_dag_shows_every_component_with_its_state_and_a_click_shows_its_artifacts(runs, ui, driver, shots):
    first, _ = runs
    run = first.first_run
    visit(driver, ui, f"/runs/{run.run_id}", shots, "run")
    nodes = {n.get_attribute("data-node"): n.text for n in driver.find_elements(By.CSS_SELECTOR, "a.node")}
    assert set(nodes) == {e.node for e in run.executions}
    assert all(text.split("\n")[1].startswith(run.states()[node].lower()) for node, text in nodes.items())
    driver.find_element(By.CSS_SELECTOR, 'a.node[data-node="Trainer"]').click()
    WebDriverWait(driver, WAIT_S).until(expected_conditions.presence_of_element_located((By.ID, "component")))
    browser.screenshot(driver, shots / "run-component.png")
    assert browser.console_errors(driver) == []
    panel = driver.find_element(By.ID, "component").text
    store = open_store(first.config.metadata_path)
    outputs = [a for a in history.run_artifacts(store, first.config.pipeline_name, run.run_id) if a.node == "Trainer"]
    assert {"Model", "ModelRun"} == {a.type_name for a in outputs}
    assert all(a.uri in panel for a in outputs)
    assert "Examples" in panel and "TransformGraph" in panel  # its inputs


def test_the_run_page_shows_trials_epochs_and_the_evaluation_as_recorded(runs, ui, driver, shots):
    first, _ = runs
    run_id = first.first_run.run_id
    visit(driver, ui, f"/runs/{run_id}", shots, "run-results")
    store = open_store(first.config.metadata_path)
    (metrics,) = history.output_artifacts(store, run_id, "system.Metrics")
    accuracy = metrics.custom_properties["accuracy"].double_value
    count = int(metrics.custom_properties["example_count"].double_value)
    assert f"accuracy {accuracy:.4f} on {count} examples" in driver.find_element(By.CSS_SELECTOR, ".verdict").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.trials tbody tr")) >= 1
    assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart polyline")) == 3  # loss, accuracy, rate
    cells = driver.find_elements(By.CSS_SELECTOR, "figure.chart rect title")
    counts = [int(m.group(1)) for c in cells if (m := re.search(r"actual .*: (\d+)$", c.get_attribute("textContent")))]
    assert len(counts) == 100 and sum(counts) == count  # the confusion matrix covers every test example


def test_the_compare_page_shows_two_ticked_runs_and_the_setting_that_differs(runs, ui, driver, shots):
    first, second = runs
    visit(driver, ui, "/", shots, "runs-ticked")
    for run_id in (first.first_run.run_id, second.run_id):
        driver.find_element(By.CSS_SELECTOR, f'input[value="{run_id}"]').click()
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".compare")))
    browser.screenshot(driver, shots / "compare.png")
    assert browser.console_errors(driver) == []
    columns = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "th.compared-run")]
    assert sorted(columns) == sorted([first.first_run.run_id, second.run_id])
    differing = driver.find_element(By.CSS_SELECTOR, "table.differing").text
    assert "regression_tolerance" in differing and "train_epochs" not in differing
    assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart")) == 2  # a confusion matrix each


def test_a_vertical_stroke_on_the_canvas_gets_ten_bars_and_a_predicted_class(ui, driver, shots):
    visit(driver, ui, "/try", shots, "try-empty")
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "try").get_attribute("data-ready"))
    canvas = driver.find_element(By.ID, "canvas")
    ActionChains(driver).move_to_element_with_offset(canvas, 0, -90).click_and_hold().move_by_offset(
        0, 60
    ).move_by_offset(0, 60).move_by_offset(0, 60).release().perform()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "answer").get_attribute("data-predicted"))
    browser.screenshot(driver, shots / "try.png")
    assert browser.console_errors(driver) == []
    assert len(driver.find_elements(By.CSS_SELECTOR, "#bars rect.bar")) == 10
    predicted = int(driver.find_element(By.ID, "answer").get_attribute("data-predicted"))
    assert 0 <= predicted <= 9 and f"Predicted class: {predicted}" in driver.find_element(By.ID, "answer").text
    print("drawn digit answered in", driver.find_element(By.ID, "status").get_attribute("data-milliseconds"), "ms")


def test_the_mistakes_page_shows_wrong_test_examples_surest_first(runs, ui, driver, shots):
    first, _ = runs
    visit(driver, ui, f"/runs/{first.first_run.run_id}/mistakes", shots, "mistakes")
    text = driver.find_element(By.TAG_NAME, "main").text
    wrong, total = map(int, re.search(r"gets (\d+) of (\d+) test examples wrong", text).groups())
    store = open_store(first.config.metadata_path)
    (metrics,) = history.output_artifacts(store, first.first_run.run_id, "system.Metrics")
    accuracy = metrics.custom_properties["accuracy"].double_value
    assert total == int(metrics.custom_properties["example_count"].double_value)
    assert wrong == round(total * (1 - accuracy))  # the served model is the evaluated one
    figures = driver.find_elements(By.CSS_SELECTOR, "figure.mistake")
    assert len(figures) == min(wrong, 60) > 0
    shown = [float(f.text.split("\n")[-1].rstrip("%")) for f in figures]
    assert shown == sorted(shown, reverse=True)
    for figure in figures:
        true, predicted = re.findall(r"(?:true|predicted) (\d+)", figure.text)
        assert true != predicted
        assert figure.find_element(By.TAG_NAME, "img").get_attribute("src").startswith("data:image/png;base64,")


def test_the_lineage_and_data_pages_trace_the_pushed_model_and_show_each_split(runs, ui, driver, shots):
    first, _ = runs
    run_id = first.first_run.run_id
    visit(driver, ui, f"/runs/{run_id}/lineage", shots, "lineage")
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "PushedModel#" in text and "ImportExampleGen" in text and "Trainer" in text
    visit(driver, ui, f"/runs/{run_id}/data", shots, "data")
    captions = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "figcaption")]
    assert [c.split(":")[0] for c in captions] == ["train", "eval", "test"]
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.samples tr")) == 10  # a row of images per class


def test_a_missing_run_is_a_404_page(ui, driver, shots):
    visit(driver, ui, "/runs/no-such-run", shots, "not-found", expect_errors=True)
    assert "no run 'no-such-run'" in driver.find_element(By.CSS_SELECTOR, ".error").text
    status, _ = get(ui, "/runs/no-such-run")
    assert status == 404


def get(ui, path: str) -> tuple:
    """(status, body) of GET ``path`` sent as written: no client normalizes its ``..``."""
    connection = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=WAIT_S)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read().decode(errors="replace")


def test_no_url_reads_a_file_outside_the_artifact_folders(runs, ui):
    first, _ = runs
    store = open_store(first.config.metadata_path)
    (results,) = history.output_artifacts(store, first.first_run.run_id, "TunerResults")
    status, body = get(ui, f"/artifacts/{results.id}/tuner_results.json")
    assert status == 200 and json.loads(body)  # a file inside is shown
    secret = os.path.join(PROJECT_ROOT, "setup.py")
    outside = os.path.relpath(secret, results.uri)
    for path in (
        f"/artifacts/{results.id}/{outside}",
        f"/artifacts/{results.id}/{outside.replace('..', '%2e%2e')}",
        f"/artifacts/{results.id}/{outside.replace('/', '%2f')}",
        f"/artifacts/{results.id}/{secret}",
        f"/artifacts/{results.id}//etc/passwd",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
    ):
        status, body = get(ui, path)
        assert status == 404, path
        assert "find_packages" not in body and "root:" not in body and "create_app" not in body, path


def start_ui(tmp_path, *flags) -> ServiceProcess:
    """``python -m ui`` with these flags and no model (the pages that need no TensorFlow start at once)."""
    return ServiceProcess(
        lambda port: [sys.executable, "-m", "ui", "--port", str(port), "--no-serve-model", *flags],
        str(tmp_path / "ui.log"),
        READY,
    )


def test_a_missing_store_is_a_page_naming_the_path_it_tried(tmp_path, driver, shots):
    with start_ui(tmp_path, "--output-root", str(tmp_path / "nothing")) as ui:
        visit(driver, ui, "/", shots, "missing-store", expect_errors=True)
        status, body = get(ui, "/")
    expected = tmp_path / "nothing" / "metadata" / "digits-convnet" / "metadata.db"
    assert status == 503 and str(expected) in body
    assert str(expected) in driver.find_element(By.CSS_SELECTOR, ".error").text


def test_an_unreachable_metadata_service_is_a_page_naming_it(tmp_path):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with start_ui(tmp_path, "--grpc-host", "127.0.0.1", "--grpc-port", str(port)) as ui:
        status, body = get(ui, "/")
    assert status == 503 and f"127.0.0.1:{port}" in body


def test_a_value_holding_html_is_shown_as_text(runs, tmp_path, driver, shots):
    first, _ = runs
    copy = tmp_path / "metadata.db"
    shutil.copy(first.config.metadata_path, copy)
    store = writable_store(str(copy))
    context = store.get_context_by_type_and_name("pipeline_run", first.first_run.run_id)
    hostile = '<script>document.title="owned"</script><img src=x onerror="document.title=\'owned\'">'
    context.custom_properties[RUN_FLAGS].string_value = hostile
    store.put_contexts([context])
    flags = [*first.flags, "--metadata-path", str(copy)]
    with start_ui(tmp_path, *flags) as ui:
        visit(driver, ui, "/", shots, "escaped")
        assert hostile in driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{first.first_run.run_id}"]').text
        assert driver.title != "owned" and driver.find_elements(By.TAG_NAME, "script") == []


def test_host_beyond_loopback_warns_and_a_bad_port_is_one_line(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "ui", "--port", "99999"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("ui: error: argument --port: must lie in [1, 65535]")
    exposed = start_ui(tmp_path, "--host", "0.0.0.0")
    with exposed:
        pass
    assert "ui: warning: listening on 0.0.0.0" in exposed.log()


def test_reading_every_page_wrote_nothing(runs, ui, before):
    run, _ = runs
    for path in ("/", f"/runs/{run.first_run.run_id}", f"/runs/{run.first_run.run_id}/mistakes"):
        assert get(ui, path)[0] == 200
    with open(run.config.metadata_path, "rb") as f:
        store = hashlib.sha256(f.read()).hexdigest()
    assert (store, tree_digest(run.config.pipeline_root), tree_digest(run.config.serving_dir)) == before
