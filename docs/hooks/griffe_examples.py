"""Griffe extension for the API reference: read a docstring's ``Example:`` section as ``Examples:``.

Google style names the section ``Examples:``; gmgan's docstrings mostly write ``Example:``, which griffe would
otherwise render as a free-text admonition (its doctests as plain text). Renaming it at load time renders
them as code and leaves the sources alone.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:(\s*)$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and "Example:" in obj.docstring.value:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:\2", obj.docstring.value)
