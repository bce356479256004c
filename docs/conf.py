"""Sphinx configuration: `make docs` builds the site into build/docs with -W."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "lamina"
author = "the lamina developers"
release = _version("lamina")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
]

# numpydoc renders the Parameters/Returns/Examples sections; class members are
# documented by autodoc itself, so numpydoc adds no second member table.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
autodoc_typehints = "none"  # the numpydoc sections carry the types
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False}

# Gallery pictures are computed by lamina when the site is built.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 80)]

intersphinx_mapping: dict[str, tuple[str, None]] = {}
html_theme = "alabaster"
html_static_path: list[str] = []
exclude_patterns = ["_build"]
nitpicky = False
