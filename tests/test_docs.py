"""Every example in the user guide and in the docstrings runs."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import sklearn_robust

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MODULES = sorted(
    info.name for info in pkgutil.walk_packages(sklearn_robust.__path__, prefix="sklearn_robust.")
)


def test_there_is_a_guide():
    assert PAGES, "docs/ has no pages"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_guide_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    namespace = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@pytest.mark.slow
def test_readme_examples_run(tmp_path, monkeypatch):
    """README's examples, as written (about 2 minutes: a KH encoder and a grid search)."""
    monkeypatch.chdir(tmp_path)
    readme = DOCS.parent / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.DOTALL)
    assert blocks, "README.md has no python examples"
    namespace = {}
    for block in blocks:
        exec(compile(block, str(readme), "exec"), namespace)
