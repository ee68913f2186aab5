#!/usr/bin/env python3
"""Add PyPI's sha256 hashes to the pinned requirements, so pip installs exactly what was pinned.

requirements.txt and requirements-dev.txt pin every dependency as `name==version`. This script
rewrites such files in place in pip's hash-checking format:

    name==version \\
        --hash=sha256:<one line per file of that version on PyPI>

and the Makefile installs them with `pip install --require-hashes`, so a file that is not
byte-for-byte one of the files PyPI published for the pinned version (another build, a mirror's
rebuild, a tampered upload) is refused. The hashes of every file PyPI lists for the version are
recorded (all platforms and Python versions, wheels and sdist), so the files stay valid on any
machine.

Run it after changing a pin (bump the `name==version` line, then):

    python tools/hash-pins.py requirements.txt requirements-dev.txt

It asks https://pypi.org/simple/<name>/ (the simple JSON API) and ignores any local pip index or
mirror. Comments, blank lines, `-r other.txt` and other option lines are kept as they are, as is
the order of the pins; existing `--hash` options are replaced, so running it twice gives the same
file. It exits non-zero, leaving the files untouched, if a line is not an exact pin or a pinned
version has no files on PyPI. Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/simple/{}/"
ACCEPT = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 60

# `name[extra,...]==version`, optionally followed by `; marker` (kept verbatim).
PIN = re.compile(
    r"^(?P<req>(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"(?:\[[^\]]*\])?\s*==\s*(?P<version>[A-Za-z0-9._+!-]+)\s*(?:;.*)?)$"
)
SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")

# PEP 440 (the pattern of packaging.version), to compare a filename's version with the pin the
# way pip does: `1.0` == `1.0.0`, `2.9.0.post0` == `2.9.0-post0`, case-insensitive.
_PEP440 = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}


def normalize_name(name: str) -> str:
    """PEP 503 normalized project name: `PyYAML` -> `pyyaml`, `pulumi_aws` -> `pulumi-aws`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalize_version(version: str) -> str | None:
    """A canonical key of a PEP 440 version, or None if it is not one."""
    m = _PEP440.match(version)
    if not m:
        return None
    release = [int(part) for part in m["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    key = f"{int(m['epoch'] or 0)}!" + ".".join(map(str, release))
    if m["pre"]:
        label = m["pre_l"].lower()
        key += _PRE.get(label, label) + str(int(m["pre_n"] or 0))
    if m["post"]:
        key += ".post" + str(int(m["post_n1"] or m["post_n2"] or 0))
    if m["dev"]:
        key += ".dev" + str(int(m["dev_n"] or 0))
    if m["local"]:
        key += "+" + ".".join(
            str(int(p)) if p.isdigit() else p.lower() for p in re.split(r"[-_.]", m["local"])
        )
    return key


def file_name_version(filename: str) -> tuple[str, str] | None:
    """(normalized name, version) of a wheel or sdist filename; None for other kinds of file."""
    if filename.endswith(".whl"):
        # {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl; the name never contains `-`.
        parts = filename[: -len(".whl")].split("-")
        if len(parts) not in (5, 6):
            return None
        return normalize_name(parts[0]), parts[1]
    for suffix in SDIST_SUFFIXES:
        if filename.lower().endswith(suffix):
            # {name}-{version}.tar.gz; old sdists keep `-` in the name, the version has none.
            name, sep, version = filename[: -len(suffix)].rpartition("-")
            return (normalize_name(name), version) if sep else None
    return None


def fetch_files(name: str) -> list[dict]:
    """The "files" of a project on PyPI's simple JSON API (PEP 691)."""
    request = urllib.request.Request(
        INDEX.format(normalize_name(name)),
        headers={"Accept": ACCEPT, "User-Agent": "hash-pins (urllib)"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.load(response)["files"]


def hashes_for(name: str, version: str, cache: dict[str, list[dict]]) -> list[str]:
    """Sorted sha256 hashes of every wheel and sdist of exactly name==version on PyPI."""
    project = normalize_name(name)
    wanted = normalize_version(version)
    if wanted is None:
        raise SystemExit(f"hash-pins: {name}=={version}: not a PEP 440 version")
    if project not in cache:
        try:
            cache[project] = fetch_files(project)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise SystemExit(f"hash-pins: {name}: no such project on PyPI ({err.url})")
            raise SystemExit(f"hash-pins: {name}: PyPI answered {err.code} {err.reason}")
        except urllib.error.URLError as err:
            raise SystemExit(f"hash-pins: {name}: cannot reach PyPI: {err.reason}")
    hashes = set()
    for entry in cache[project]:
        parsed = file_name_version(entry["filename"])
        if parsed is None or parsed[0] != project or normalize_version(parsed[1]) != wanted:
            continue
        digest = entry.get("hashes", {}).get("sha256")
        if not digest:
            raise SystemExit(f"hash-pins: {entry['filename']}: PyPI lists no sha256 for it")
        hashes.add(digest.lower())
    if not hashes:
        raise SystemExit(f"hash-pins: {name}=={version}: PyPI has no wheel or sdist of this version")
    return sorted(hashes)


def logical_lines(text: str) -> list[str]:
    """The file's lines with `\\` continuations joined (as pip reads them)."""
    lines, pending = [], ""
    for raw in text.splitlines():
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            pending += raw[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    if pending:
        lines.append(pending.rstrip())
    return lines


def rewrite(path: Path, cache: dict[str, list[dict]]) -> tuple[str, int, int]:
    """The new text of a requirements file, its number of pins and of hashes."""
    out, pins, total = [], 0, 0
    for lineno, line in enumerate(logical_lines(path.read_text()), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("-"):
            out.append(line.rstrip())  # comments, blank lines, -r/-c and other options: kept
            continue
        requirement = re.sub(r"\s--hash[=\s]\s*\S+", " ", " " + stripped).strip()
        match = PIN.match(requirement)
        if not match:
            raise SystemExit(f"hash-pins: {path}:{lineno}: not an exact `name==version` pin: {stripped}")
        hashes = hashes_for(match["name"], match["version"], cache)
        out.append(match["req"].strip() + " \\")
        out.extend(f"    --hash=sha256:{h} \\" for h in hashes[:-1])
        out.append(f"    --hash=sha256:{hashes[-1]}")
        pins += 1
        total += len(hashes)
    return "\n".join(out) + "\n", pins, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Rewrite pinned requirements files in place with the sha256 hashes of every "
        "file PyPI has for each pinned version (pip's --require-hashes format)."
    )
    parser.add_argument("files", nargs="+", type=Path, help="requirements files (name==version lines)")
    args = parser.parse_args(argv)
    cache: dict[str, list[dict]] = {}
    results = [(path, *rewrite(path, cache)) for path in args.files]  # all fetched before writing
    for path, text, pins, total in results:
        if path.read_text() != text:
            path.write_text(text)
            state = "rewritten"
        else:
            state = "unchanged"
        print(f"{path}: {pins} pins, {total} hashes, {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
