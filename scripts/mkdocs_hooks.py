"""MkDocs hooks (mkdocs.yml): publish files that live outside docs/, and keep links working.

The site shows some files from where they are in the repository, rather than from copies
that would drift: CHANGELOG.md, ARCHITECTURE.md, benchmarks/README.md and its last results
(with their chart), and the example programs (as downloadable files, since the TLS, WebSocket
and proxy guides link to them). ``PUBLISHED`` maps each to its path in the site.

Every page's relative links are written for the repository, so that they work when the file is
read on GitHub (``../examples/tls.py`` in docs/tls.md, ``docs/tls.md`` in CHANGELOG.md,
``results/results.md`` in benchmarks/README.md). Before MkDocs validates them, each one that
points to a file the site publishes is rewritten to that file's place in the site; the rest
are left alone, so MkDocs (strict) reports a link to a file the site does not have.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

REPOSITORY = Path(__file__).resolve().parent.parent

# Repository path -> path in the site (pages and other files outside docs/).
PUBLISHED = {
    "CHANGELOG.md": "changelog.md",
    "ARCHITECTURE.md": "architecture.md",
    "benchmarks/README.md": "benchmarks/index.md",
    "benchmarks/results/results.md": "benchmarks/results.md",
    "benchmarks/results/results.png": "benchmarks/results.png",
}
PUBLISHED_GLOBS = {"examples/*.py": "examples/"}

SITE_TO_REPOSITORY: dict[str, str] = {}

# A code span (left as it is) or the target of an inline link or image: "](target".
_LINK_OR_CODE = re.compile(r"(?P<code>(?P<ticks>`+).+?(?P=ticks))|\]\((?P<target>[^)\s]+)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def published() -> dict[str, str]:
    """Every file published from outside docs/: repository path -> site path."""
    paths = {path: site for path, site in PUBLISHED.items() if (REPOSITORY / path).is_file()}
    for pattern, folder in PUBLISHED_GLOBS.items():
        for path in sorted(REPOSITORY.glob(pattern)):
            paths[path.relative_to(REPOSITORY).as_posix()] = folder + path.name
    return paths


def on_files(files: Files, config: Any) -> Files:
    SITE_TO_REPOSITORY.clear()
    for path, site in published().items():
        files.append(File.generated(config, site, abs_src_path=str(REPOSITORY / path)))
        SITE_TO_REPOSITORY[site] = path
    return files


def repository_path(site_path: str) -> str:
    """Where the file shown at ``site_path`` is in the repository."""
    return SITE_TO_REPOSITORY.get(site_path, "docs/" + site_path)


def site_path(path: str, files: Files) -> str | None:
    """Where the repository's file ``path`` is in the site, if the site has it."""
    for site, repository in SITE_TO_REPOSITORY.items():
        if repository == path:
            return site
    if path.startswith("docs/") and files.get_file_from_path(path[len("docs/") :]) is not None:
        return path[len("docs/") :]
    return None


def rewrite_links(markdown: str, page_site_path: str, files: Files) -> str:
    """``markdown``'s relative links, written for the repository, made to work in the site."""
    source_folder = posixpath.dirname(repository_path(page_site_path))
    page_folder = posixpath.dirname(page_site_path) or "."

    def rewrite(match: re.Match[str]) -> str:
        target = match.group("target")
        if target is None or _EXTERNAL.match(target) or target.startswith(("#", "/")):
            return match.group(0)
        path, hash_, fragment = target.partition("#")
        found = site_path(posixpath.normpath(posixpath.join(source_folder, path)), files)
        if found is None:
            return match.group(0)
        return "](" + posixpath.relpath(found, page_folder) + hash_ + fragment

    lines = markdown.split("\n")
    in_fence = False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and "](" in line:
            lines[number] = _LINK_OR_CODE.sub(rewrite, line)
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Page, config: Any, files: Files) -> str:
    return rewrite_links(markdown, page.file.src_uri, files)
