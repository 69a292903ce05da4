"""The documents a user reads first stay true: a README that fits, links that resolve, every module listed."""

import os
import re

from conftest import PROJECT_ROOT
from test_layout import product_modules

MAX_README_LINES = 150


def read(path: str) -> str:
    with open(os.path.join(PROJECT_ROOT, path)) as f:
        return f.read()


def test_the_readme_fits_on_a_few_screens_and_every_link_resolves():
    readme = read("README.md")
    assert readme.count("\n") <= MAX_README_LINES
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert links and [link for link in links if not os.path.exists(os.path.join(PROJECT_ROOT, link))] == []
    for topic in ("data", "tuning", "serving", "cloud", "inspection", "benchmarks", "architecture"):
        assert f"docs/{topic}.md" in links


def test_the_readmes_screenshots_are_pngs_under_200_kb():
    images = re.findall(r"!\[[^]]*\]\(([^)]+)\)", read("README.md"))
    assert images
    for image in images:
        path = os.path.join(PROJECT_ROOT, image)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", image
        assert os.path.getsize(path) < 200 * 1024, image


def test_the_architecture_lists_every_module():
    listed = read("docs/architecture.md")
    missing = [path for path in product_modules() if not path.endswith("__init__.py") and f"`{path}`" not in listed]
    missing = [path for path in missing if not path.endswith("__main__.py")]
    assert missing == []


def test_every_benchmark_figure_has_a_date_and_a_commit():
    rows = [line for line in read("docs/benchmarks.md").splitlines() if re.match(r"\| 20\d\d-\d\d-\d\d \|", line)]
    assert rows and all(re.match(r"\| 20\d\d-\d\d-\d\d \| [0-9a-f]{7} \|", row) for row in rows)
