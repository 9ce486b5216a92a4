"""Check the links of the repository's Markdown: ``python docs/check_links.py [FILES...]``.

Default files: ``README.md``, ``docs/*.md`` and ``model_cards/*.md``. For every inline link or
image ``[text](target)`` / ``![alt](target)`` (outside fenced code blocks and inline code):

* relative targets must exist (resolved against the file's folder) and stay inside the repo;
* ``#anchor`` (alone or after a ``.md`` target) must match a heading of that Markdown file
  (GitHub slugs: lower case, punctuation dropped, spaces -> ``-``);
* ``http(s)://`` and ``mailto:`` targets are only checked for a host (no network in CI).

Prints one line per broken link (``file:line: target: reason``) and exits 1 if any.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def default_files(root: Path = ROOT) -> list[Path]:
    files = [root / "README.md"] + sorted((root / "docs").glob("*.md")) + sorted((root / "model_cards").glob("*.md"))
    return [f for f in files if f.exists()]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading text."""
    s = re.sub(r"[`*_~]", "", heading.strip().lower())
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    out: set[str] = set()
    counts: dict[str, int] = {}
    in_code = False
    for line in md.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and not in_code:
            s = slug(m.group(1))
            n = counts.get(s, 0)
            out.add(s if n == 0 else f"{s}-{n}")
            counts[s] = n + 1
    return out


def links(md: Path) -> list[tuple[int, str]]:
    """(line number, target) of every inline link/image outside code."""
    found, in_code = [], False
    for i, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        line = re.sub(r"`[^`]*`", "", line)
        found += [(i, m.group(1)) for m in LINK.finditer(line)]
    return found


def check_file(md: Path, root: Path = ROOT) -> list[str]:
    errors = []
    for line, target in links(md):
        where = f"{md.relative_to(root) if md.is_relative_to(root) else md}:{line}: {target}"
        if re.match(r"^(https?:)?//", target) or target.startswith("mailto:"):
            if not re.match(r"^(https?:)?//[^/\s]+\.[^/\s]+|^mailto:\S+@\S+", target):
                errors.append(f"{where}: malformed external link")
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            errors.append(f"{where}: unsupported scheme")
            continue
        path_part, _, frag = target.partition("#")
        dest = (md.parent / path_part).resolve() if path_part else md.resolve()
        if not dest.is_relative_to(root.resolve()):
            errors.append(f"{where}: points outside the repository")
            continue
        if not dest.exists():
            errors.append(f"{where}: no such file")
            continue
        if frag and dest.suffix == ".md" and frag not in anchors(dest):
            errors.append(f"{where}: no heading #{frag} in {dest.name}")
    return errors


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    files = [Path(a).resolve() for a in args] if args else default_files()
    errors = [e for f in files for e in check_file(f)]
    for e in errors:
        print(e)
    n = sum(len(links(f)) for f in files)
    print(f"{len(files)} files, {n} links, {len(errors)} broken", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
