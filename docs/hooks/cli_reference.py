"""MkDocs hook: adds reference/cli.md, rendered from ``gmgan.cli.build_parser()`` at build time.

Nothing is written into docs/: the page exists only in the build, so it always matches the installed code.
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

CLI_PAGE = "reference/cli.md"


def on_files(files: Files, config: Any) -> Files:
    from gmgan.clidoc import cli_markdown

    if files.get_file_from_path(CLI_PAGE) is not None:  # a stale hand-made copy must not shadow the generated one
        files.remove(files.get_file_from_path(CLI_PAGE))
    files.append(File.generated(config, CLI_PAGE, content=cli_markdown()))
    return files
