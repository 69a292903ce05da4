"""A headless Chromium for the web UI's tests: Debian's chromium and chromium-driver, driven by Selenium.

``make test`` installs both when missing (Makefile, ``browser``). The driver logs the console and
the network, so a test can ask which messages the page logged and which hosts it asked for.
"""

import json
import shutil
from urllib.parse import urlparse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

WINDOW = (1400, 1000)


def chrome() -> webdriver.Chrome:
    """A headless Chromium that records its console and network events."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "no chromium/chromedriver on PATH: `make test` installs Debian's (make browser)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def console_errors(driver) -> list:
    """The SEVERE console messages logged since the last call (script errors, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def requested_hosts(driver) -> set:
    """The hosts of every URL the page requested since the last call (data: URIs have none)."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = urlparse(message["params"]["request"]["url"])
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts.add(url.netloc)
    return hosts


def screenshot(driver, path) -> None:
    """The whole page as a PNG at ``path`` (the window grows to the page's height first)."""
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(WINDOW[0], min(max(height + 40, WINDOW[1]), 6000))
    driver.save_screenshot(str(path))
    driver.set_window_size(*WINDOW)
