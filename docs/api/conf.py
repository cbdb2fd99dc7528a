"""Sphinx configuration of the sklearn_robust API reference.

Build with ``python -m sphinx -W --keep-going -b html docs/api docs/api/_build/html``
from the repository root (see README.md in this folder).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# The package is normally installed (editable); this keeps a plain checkout buildable too.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from numpydoc.validate import get_validation_checks

import sklearn_robust

project = "sklearn_robust"
author = "sklearn_robust developers"
copyright = "sklearn_robust developers"
release = sklearn_robust.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "README.md"]
root_doc = "index"

# One page per object, written under generated/ at build time.
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc "Parameters" sections already give the types
autodoc_member_order = "groupwise"

# numpydoc renders the docstrings; the class template lists the methods itself, so
# numpydoc's own member tables (which would need stub pages of their own) are off.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
# Cross-referencing the parameter types would need intersphinx (numpy, python), i.e. network.
numpydoc_xref_param_type = False

# numpydoc validation: with -W, every reported check fails the build. All checks run except
# - ES01 (extended summary) and SA01 (See Also): optional sections, as in scikit-learn;
# - GL01, GL02 (where the summary starts and the closing quotes sit): layout, as in scikit-learn;
# - RT02 (the Returns line holds only the type): returned values are named, as in scikit-learn.
# EX01 (an Examples section) applies to classes and functions; methods and properties are
# exempt (scikit-learn's exemption too), see _select_validation_checks below.
_EXCLUDED_CHECKS = {"ES01", "SA01", "GL01", "GL02", "RT02"}
numpydoc_validation_checks = get_validation_checks({"all", *_EXCLUDED_CHECKS})
_MEMBER_VALIDATION_CHECKS = numpydoc_validation_checks - {"EX01"}
_OBJECT_VALIDATION_CHECKS = set(numpydoc_validation_checks)

html_theme = "alabaster"
html_title = f"sklearn_robust {release} API reference"
html_static_path: list[str] = []


# scikit-learn adds set_{fit,score,...}_request to every estimator through a descriptor;
# autodoc sees them as the class's own methods, and their docstrings point into
# scikit-learn's glossary, which this build does not have.
_METADATA_REQUEST = re.compile(r"^set_\w+_request$")

# The type of a numpydoc parameter ("name : type") is rendered as reStructuredText,
# where "*spatial" in "of shape (n_samples, n_channels, *spatial)" opens an emphasis
# that never closes and "n_features_in_" in "of shape (n_features_in_,)" is a link to
# an undefined target. Escape both (types that quote them in ``...`` are left alone).
_PARAM_LINE = re.compile(r"^(\s*[\w*, ]+ : )(.*)$")
_BARE_STAR = re.compile(r"(?<![\\`*])\*(?=\w)")
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?!\w)")


def _skip_metadata_request(app, what, name, obj, skip, options):
    if _METADATA_REQUEST.match(name):
        return True
    return None


def _escape_types(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        match = _PARAM_LINE.match(line)
        if match and "``" not in match.group(2):
            kind = _BARE_STAR.sub(r"\\*", match.group(2))
            lines[i] = match.group(1) + _TRAILING_UNDERSCORE.sub(r"\\_", kind)


def _select_validation_checks(app, what, name, obj, options, lines):
    # numpydoc reads the checks from the configuration for each docstring it validates.
    member = what in {"method", "property", "attribute"}
    checks = _MEMBER_VALIDATION_CHECKS if member else _OBJECT_VALIDATION_CHECKS
    app.config.numpydoc_validation_checks = set(checks)


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request)
    # Before numpydoc (priority 500) parses the docstring.
    app.connect("autodoc-process-docstring", _escape_types, priority=100)
    app.connect("autodoc-process-docstring", _select_validation_checks, priority=100)
