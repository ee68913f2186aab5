"""SSH signatures through the system's OpenSSH (`ssh-keygen -Y`), as git signs commits with SSH keys.

Nothing cryptographic is done here: ``ssh-keygen`` signs and verifies, so every signature this
project writes verifies with the stock command an auditor runs without envctl::

    ssh-keygen -Y verify -f ALLOWED_SIGNERS -I PRINCIPAL -n NAMESPACE -s FILE.sig < FILE

Verification results are kept for the life of the process (a fleet verifies the same signers'
signatures many times); the key of that cache is every input of the verification.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

SSH_KEYGEN = "ssh-keygen"
_VERIFIED: dict[str, bool] = {}
_TMP: list[Path] = []


class SignatureError(Exception):
    """Signing failed, or OpenSSH is missing: the message says what to do."""


SYSTEM_PATH = "/usr/bin:/bin:/usr/local/bin:/usr/sbin:/sbin"  # never the caller's PATH, which others may extend
_RESOLVED: list[str] = []


def _tool() -> str:
    """The system's ssh-keygen, by absolute path, found once: a program that runs later (a checked tree's,
    in envctl's plan host) cannot put another one before it on PATH."""
    if _RESOLVED:
        return _RESOLVED[0]
    found = shutil.which(SSH_KEYGEN, path=SYSTEM_PATH)
    if found is not None:
        _RESOLVED.append(found)
    if found is None:
        raise SignatureError("ssh-keygen (OpenSSH) is not installed: install the openssh-client package; approvals "
                             "are SSH signatures and cannot be made or verified without it")
    return found


def _tmpdir() -> Path:
    if not _TMP:
        path = Path(tempfile.mkdtemp(prefix="clinspark-sshsig-"))
        _TMP.append(path)
        atexit.register(shutil.rmtree, path, True)
    return _TMP[0]


def _file(content: bytes, suffix: str) -> Path:
    path = _tmpdir() / (hashlib.sha256(content).hexdigest() + suffix)
    if not path.exists():
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(content)
        tmp.replace(path)
    return path


def verify(allowed_signers: str, principal: str, namespace: str, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `principal`'s signature of `message` in `namespace`, with a key the
    allowed-signers text lists for that principal and namespace. Verified as of now: the time a signed
    file states is the signer's word, so a key counts exactly while the signers file lists it."""
    key = hashlib.sha256(b"\0".join([allowed_signers.encode(), principal.encode(), namespace.encode(), message,
                                     signature])).hexdigest()
    if key not in _VERIFIED:
        allowed = _file(allowed_signers.encode(), ".allowed")
        sig = _file(signature, ".sig")
        result = subprocess.run(
            [_tool(), "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", namespace, "-s", str(sig)],
            input=message, capture_output=True, timeout=60, check=False)
        _VERIFIED[key] = result.returncode == 0
    return _VERIFIED[key]


def sign(private_key: Path, namespace: str, message: bytes) -> bytes:
    """The armored SSH signature of `message` in `namespace` made with `private_key` (a private key
    file, or a public key file whose private key is in ssh-agent). A passphrase is asked on the terminal."""
    key = Path(private_key).expanduser()
    if not key.is_file():
        raise SignatureError(f"no signing key {key}: give your SSH key with --key (or set ENVCTL_SIGNING_KEY)")
    with tempfile.TemporaryDirectory(prefix="clinspark-sign-") as tmp:
        target = Path(tmp) / "message"
        target.write_bytes(message)
        result = subprocess.run([_tool(), "-Y", "sign", "-f", str(key), "-n", namespace, str(target)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, check=False)
        sig = target.with_name("message.sig")
        if result.returncode != 0 or not sig.exists():
            why = result.stderr.decode(errors="replace").strip().splitlines()
            raise SignatureError(f"ssh-keygen could not sign with {key}: {why[-1] if why else 'unknown error'}")
        return sig.read_bytes()


def public_key(key: Path) -> str:
    """`<type> <base64>` of a key file: a .pub file, the .pub beside a private key, or derived from it."""
    key = Path(key).expanduser()
    candidates = [key] if key.name.endswith(".pub") else [key.with_name(key.name + ".pub")]
    for path in candidates:
        if path.is_file():
            text = path.read_text(encoding="ascii", errors="replace").split()
            if len(text) >= 2:
                return f"{text[0]} {text[1]}"
    if not key.is_file():
        raise SignatureError(f"no signing key {key}: give your SSH key with --key (or set ENVCTL_SIGNING_KEY)")
    result = subprocess.run([_tool(), "-y", "-f", str(key)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=300, check=False)
    parts = result.stdout.decode(errors="replace").split()
    if result.returncode != 0 or len(parts) < 2:
        raise SignatureError(f"{key} is not an SSH private key ssh-keygen can read")
    return f"{parts[0]} {parts[1]}"


def fingerprint(public: str) -> str:
    """SHA256:... of a `<type> <base64>` public key, as ssh-keygen prints it."""
    blob = base64.b64decode(public.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
