"""The releases file (``releases.yaml`` at the project root): the application releases, with their dates.

The vendor lists here every release a stack may run; community-dev follows the newest (the phase
catalog's ``follows_latest_release``). The file is read strictly (:mod:`changecontrol.strictyaml`) and
refused whole when any entry is wrong, naming the file, the key, what it got and what is accepted:

    releases:
      - version: 2026.4.2     # MAJOR.MINOR.PATCH, as a stack's `release`
        date: 2026-05-18      # the release date, YYYY-MM-DD

Entries are listed oldest first: in ascending version order (numerically, 2026.10.0 after 2026.9.0),
each version once. "Newest" is the highest version; "behind" counts the listed releases above a stack's.
Dates are not held to the version order: a patch of an older line may be released after a newer one.

No program reads the file, only the pack's release rules (:mod:`policies.rules.lifecycle`): it is part
of the tooling digest (:mod:`changecontrol.digest`), approved once for the fleet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from changecontrol import layout, strictyaml
from components.settings import RELEASE_MAX_LENGTH, RELEASE_PATTERN

RELEASES_FILE = layout.RELEASES_FILE
KEY = "releases"
FIELDS = ("version", "date")
ACCEPTED_VERSION = "MAJOR.MINOR.PATCH of ASCII digits (at most 32 characters), such as 2026.4.2"
ACCEPTED_DATE = "the release date YYYY-MM-DD, such as 2026-05-18"
ACCEPTED_FILE = (f"a mapping with the one key {KEY}: a list, oldest first, of {{version: <{ACCEPTED_VERSION}>, "
                 f"date: <YYYY-MM-DD>}}")
_VERSION = re.compile(RELEASE_PATTERN, re.ASCII)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)


class ReleasesError(ValueError):
    """A releases file that cannot be used: missing, not strict YAML, or an entry that is wrong."""


@dataclass(frozen=True)
class Release:
    version: str
    date: date

    @property
    def order(self) -> tuple[int, ...]:
        return version_order(self.version)


@dataclass(frozen=True)
class Releases:
    """The listed releases, oldest first."""

    releases: tuple[Release, ...]

    @property
    def newest(self) -> Release:
        return self.releases[-1]

    def find(self, version: str) -> Release | None:
        return next((r for r in self.releases if r.version == version), None)

    def newer_than(self, version: str) -> list[Release]:
        """The listed releases above `version`, oldest first."""
        return [r for r in self.releases if r.order > version_order(version)]

    def listing(self) -> str:
        return ", ".join(r.version for r in self.releases)


def version_order(version: str) -> tuple[int, ...]:
    """MAJOR.MINOR.PATCH as numbers, so that 2026.10.0 comes after 2026.9.0."""
    return tuple(int(part) for part in version.split("."))


def path_in(directory: Path) -> Path:
    return Path(directory) / RELEASES_FILE


def load(directory: Path) -> Releases:
    """The releases file of a project directory; ReleasesError naming what is wrong."""
    path = path_in(directory)
    if not path.exists():
        raise ReleasesError(f"{RELEASES_FILE}: missing in {Path(directory)}; it lists the application releases "
                            f"stacks may run. Accepted: {ACCEPTED_FILE}")
    try:
        doc = strictyaml.load(path, RELEASES_FILE)
    except strictyaml.StrictYamlError as e:
        raise ReleasesError(str(e)) from None
    return parse(doc)


def parse(doc: Any) -> Releases:
    if not isinstance(doc, dict) or set(doc) != {KEY}:
        got = sorted(map(str, doc)) if isinstance(doc, dict) else type(doc).__name__
        raise ReleasesError(f"{RELEASES_FILE}: expected {ACCEPTED_FILE} (got {got}).")
    entries = doc[KEY]
    if not isinstance(entries, list) or not entries:
        raise ReleasesError(f"{RELEASES_FILE}: {KEY}: expected a list of at least one release (got {entries!r}). "
                            f"Accepted: {ACCEPTED_FILE}")
    releases = [_release(i, entry) for i, entry in enumerate(entries)]
    seen: dict[str, int] = {}
    for i, r in enumerate(releases):
        if r.version in seen:
            raise ReleasesError(f"{RELEASES_FILE}: {KEY}[{i}].version: {r.version} is listed twice (also "
                                f"{KEY}[{seen[r.version]}]). Accepted: each release once")
        seen[r.version] = i
        if i and r.order < releases[i - 1].order:
            raise ReleasesError(f"{RELEASES_FILE}: {KEY}[{i}].version: {r.version} is listed after "
                                f"{releases[i - 1].version}. Accepted: releases oldest first, in ascending "
                                f"MAJOR.MINOR.PATCH order (a new release goes at the end)")
    return Releases(tuple(releases))


def _release(i: int, entry: Any) -> Release:
    where = f"{RELEASES_FILE}: {KEY}[{i}]"
    if not isinstance(entry, dict) or set(entry) != set(FIELDS):
        got = sorted(map(str, entry)) if isinstance(entry, dict) else repr(entry)
        raise ReleasesError(f"{where}: expected the keys {', '.join(FIELDS)} (got {got}). Accepted: "
                            f"{{version: <{ACCEPTED_VERSION}>, date: <YYYY-MM-DD>}}")
    version, when = entry["version"], entry["date"]
    if not isinstance(version, str) or len(version) > RELEASE_MAX_LENGTH or not _VERSION.match(version):
        raise ReleasesError(f"{where}.version: {version!r} is not a release. Accepted: {ACCEPTED_VERSION}")
    if not isinstance(when, str) or not _DATE.match(when):
        raise ReleasesError(f"{where}.date: {when!r} is not a date. Accepted: {ACCEPTED_DATE}")
    try:
        day = date.fromisoformat(when)
    except ValueError:
        raise ReleasesError(f"{where}.date: {when!r} is not a date of the calendar. Accepted: {ACCEPTED_DATE}") \
            from None
    return Release(version, day)
