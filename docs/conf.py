"""Sphinx configuration of the docs site: the Markdown pages under docs/, read through MyST.

`invoke docs` (and `invoke lint`) build it with every warning an error, so a link to a missing page
or heading, or a page left out of the table of contents, fails the build. Nothing here may fetch
anything at build time: CI has no network.
"""

project = "pgstack"
author = "pgstack"
copyright = "pgstack contributors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# `page.md#a-heading` links resolve (and are checked) down to the third heading level, with the
# slugs GitHub gives the same headings, so the links work on GitHub too.
myst_heading_anchors = 3

html_theme = "furo"
html_title = "pgstack"
# The theme's assets ship in its wheel; no font or script is loaded from elsewhere.
html_static_path: list[str] = []
html_show_sourcelink = False
