"""The signers file: who may sign what, in OpenSSH's allowed-signers format (as git uses it).

One line per person::

    a.berger@clinspark.example namespaces="clinspark-ecr-authored" ssh-ed25519 AAAA... [comment]
    m.keller@clinspark.example namespaces="clinspark-ecr-authored,clinspark-ecr-approved" ssh-ed25519 AAAA...

The ``namespaces`` option says what a key may sign (author records, approve them); ``ssh-keygen``
itself refuses a signature in a namespace the line does not list. Time bounds (``valid-after``,
``valid-before``) are not accepted: the time a signed file states is its signer's word, so a key
counts exactly while this file lists it.

Stricter than OpenSSH, so that a name is a person and a person is a key: principals are plain
lowercase ASCII addresses (no wildcards, lists, ``+`` aliases, look-alike or invisible characters),
each principal and each key appears once, every line says its namespaces, and certificate
authorities are not accepted.
"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass

from . import layout

PRINCIPAL = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
                       r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$", re.ASCII)
KEY_TYPES = ("ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-rsa")


class SignersError(Exception):
    def __init__(self, where: str, problems: list[str]):
        self.where = where
        self.problems = problems
        super().__init__("\n".join([f"{where}: not a usable signers file:"] + [f"  - {p}" for p in problems]))


@dataclass(frozen=True)
class Signer:
    principal: str
    namespaces: tuple[str, ...]
    key: str  # "<type> <base64>"
    line: int

    def may(self, namespace: str) -> bool:
        return namespace in self.namespaces


@dataclass(frozen=True)
class AllowedSigners:
    text: str
    signers: tuple[Signer, ...]

    def by_principal(self, principal: str) -> Signer | None:
        return next((s for s in self.signers if s.principal == principal), None)

    def by_key(self, key: str) -> Signer | None:
        wanted = " ".join(key.split()[:2])
        return next((s for s in self.signers if s.key == wanted), None)


def _split_options(rest: str) -> tuple[str, str]:
    """(options, remainder) of the text after the principals: options run to the first blank
    outside double quotes, and are present only when the next word is not a key type."""
    if rest.split(" ", 1)[0] in KEY_TYPES:
        return "", rest
    quoted = False
    for i, ch in enumerate(rest):
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return rest[:i], rest[i:].strip()
    return rest, ""


def _options(text: str) -> list[tuple[str, str | None]]:
    out, current, quoted = [], "", False
    for ch in text + ",":
        if ch == '"':
            quoted = not quoted
            current += ch
        elif ch == "," and not quoted:
            if current:
                name, _, value = current.partition("=")
                out.append((name.strip().lower(), value.strip().strip('"') if _ else None))
            current = ""
        else:
            current += ch
    return out


def _key_ok(keytype: str, blob64: str) -> bool:
    try:
        blob = base64.b64decode(blob64, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        return blob[4:4 + length].decode("ascii") == keytype
    except (ValueError, struct.error, UnicodeDecodeError):
        return False


def parse(text: str, where: str = layout.SIGNERS_FILE) -> AllowedSigners:
    """The signers of an allowed-signers text; SignersError lists every problem."""
    problems: list[str] = []
    signers: list[Signer] = []
    if not text.isascii():
        problems.append("contains non-ASCII characters (look-alike letters, invisible spaces): write principals "
                        "and keys in plain ASCII")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        at = f"line {number}"
        principal, _, rest = line.partition(" ")
        options, rest = _split_options(rest.strip())
        words = rest.split()
        if not PRINCIPAL.match(principal):
            problems.append(f"{at}: principal {principal!r} is not one plain lowercase address such as "
                            "a.berger@clinspark.example (no wildcards, lists, quotes, '+' aliases or other characters)")
            continue
        if len(words) < 2 or words[0] not in KEY_TYPES or not _key_ok(words[0], words[1]):
            problems.append(f"{at}: no valid public key after the options (accepted types: {', '.join(KEY_TYPES)})")
            continue
        namespaces: tuple[str, ...] = ()
        bad = False
        for name, value in _options(options):
            if name == "namespaces" and value:
                namespaces = tuple(n.strip() for n in value.split(",") if n.strip())
                unknown = [n for n in namespaces if n not in layout.NAMESPACES]
                if unknown:
                    problems.append(f"{at}: namespaces {', '.join(unknown)} unknown; accepted: "
                                    f"{', '.join(layout.NAMESPACES)}")
                    bad = True
            elif name in ("valid-after", "valid-before"):
                problems.append(f"{at}: option {name} not accepted: a signature's time is its signer's word, so a "
                                "key counts exactly while this file lists it (to retire a key, remove its line "
                                "by a record of the signers chain)")
                bad = True
            else:
                problems.append(f"{at}: option {name!r} not accepted (accepted: namespaces=\"...\"; no "
                                "cert-authority)")
                bad = True
        if not namespaces:
            problems.append(f"{at}: {principal} has no namespaces=\"...\": say what the key may sign "
                            f"({', '.join(layout.NAMESPACES)})")
            continue
        if bad:
            continue
        key = f"{words[0]} {words[1]}"
        if any(s.principal == principal for s in signers):
            problems.append(f"{at}: {principal} is listed twice: one line per person")
            continue
        twin = next((s for s in signers if s.key == key), None)
        if twin is not None:
            problems.append(f"{at}: the key of {principal} is also the key of {twin.principal} (line {twin.line}): "
                            "one key is one person")
            continue
        signers.append(Signer(principal, namespaces, key, number))
    if problems:
        raise SignersError(where, problems)
    return AllowedSigners(text, tuple(signers))
