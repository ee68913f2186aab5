"""The engine versions AWS offers for the catalog's major (components/data/rds-engine-versions.json), and the
version a database is asked to run: never lower than the one it runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .phases import DATABASE_ENGINE

OFFERED_FILE = Path(__file__).parent / "data" / "rds-engine-versions.json"


class EngineVersionsFileError(ValueError):
    """The data file of offered versions is not what the program expects (a broken reviewed change)."""


@dataclass(frozen=True)
class OfferedVersions:
    """What the data file says: the minor versions offered for new instances, and how that was found out."""

    engine: str
    major: str
    versions: tuple[str, ...]
    checked_on: str
    regions: tuple[str, ...]
    refresh: str

    def accepts(self, version: str) -> bool:
        return version in self.versions

    @property
    def accepted(self) -> str:
        return f"one of {', '.join(self.versions)} (offered for {self.engine} {self.major}, checked {self.checked_on})"


def version_key(version: str) -> tuple[int, ...]:
    """`16.10` after `16.9`: versions compare by their numbers, not as text."""
    return tuple(int(part) for part in version.split("."))


def is_newer(version: str, than: str) -> bool:
    return version_key(version) > version_key(than)


def major_of(version: str) -> str:
    return version.split(".", 1)[0]


@lru_cache(maxsize=1)
def offered() -> OfferedVersions:
    """The data file, read once and checked against the catalog's major."""
    rel = f"components/data/{OFFERED_FILE.name}"
    try:
        doc = json.loads(OFFERED_FILE.read_text())
        found = OfferedVersions(engine=doc["engine"], major=doc["major"], versions=tuple(doc["offered"]),
                                checked_on=doc["checked_on"], regions=tuple(doc["regions"]), refresh=doc["refresh"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EngineVersionsFileError(
            f"{rel}: not readable as the offered engine versions ({e}); expected a JSON object with engine, major, "
            "offered (a list of <major>.<minor> versions), checked_on, regions and refresh") from None
    if (found.engine, found.major) != (DATABASE_ENGINE.engine, DATABASE_ENGINE.major):
        raise EngineVersionsFileError(f"{rel}: lists {found.engine} {found.major}, but the phase catalog pins "
                                      f"{DATABASE_ENGINE.engine} {DATABASE_ENGINE.major}")
    bad = [v for v in found.versions if major_of(v) != found.major or not all(p.isdigit() for p in v.split("."))]
    if bad or not found.versions:
        raise EngineVersionsFileError(f"{rel}: offered must list {found.major}.<minor> versions, not {bad or 'none'}")
    return found
