"""A stack's `--policy-pack-config` for `pulumi preview`/`up`: enforcement levels and, when the pack runs from
another checkout than the stacks, where the stacks are (the pack's `projectDir` key, an external format)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from changecontrol import layout
from changecontrol.trust import TrustRoot

from . import ecr, stackfile


def policy_config(stacks_dir: Path, stack: str, advisory: Sequence[str], today: date) -> dict[str, object]:
    """The config: every rule mandatory, `advisory` rules lowered (uncontrolled stacks only); an uncontrolled
    stack's rules that only warn keep their own advisory level (a controlled stack's stay mandatory). The stack
    file is read and validated once. Raises EcrError for a refused request."""
    from policies.facts import PROJECT_DIR_KEY
    from policies.pack import ADVISORY_RULES, RULE_IDS

    if ecr.chain_kind(stacks_dir, stack) != "stack":
        raise ecr.EcrError(f"'{stack}' is a chain of its own, not a stack: it has no policy config")
    settings = stackfile.load_stack_settings(stacks_dir, stack, today)
    lowered = list(dict.fromkeys(advisory))
    if lowered and settings.phase_spec.controlled:
        raise ecr.EcrError(f"stack '{stack}' is change-controlled (phase {settings.phase}): every rule stays "
                           "mandatory and --advisory is refused. Fix the finding, or waive it for one resource in "
                           f"{layout.WAIVERS_DIR}/{stack}.yaml (approved with the stack's state)")
    unknown = [r for r in lowered if r not in RULE_IDS]
    if unknown:
        raise ecr.EcrError(f"--advisory names unknown rules: {', '.join(unknown)}; rules: {', '.join(RULE_IDS)}")
    config: dict[str, object] = {"all": "mandatory"}
    here = Path(stacks_dir).resolve()
    for rule in RULE_IDS:
        entry: dict[str, object] = {}
        if rule in lowered or (rule in ADVISORY_RULES and not settings.phase_spec.controlled):
            entry["enforcementLevel"] = "advisory"
        if here != pack_checkout():
            entry[PROJECT_DIR_KEY] = str(here)
        if entry:
            config[rule] = entry
    return config


def pack_checkout() -> Path:
    """The checkout whose policy pack (`policies/`) and program envctl is."""
    return TrustRoot.own().directory.resolve()


def to_text(config: dict[str, object]) -> str:
    return json.dumps(config, indent=2) + "\n"


def write(output: Path, text: str) -> None:
    """Write the config to `output`, never through a link the checked tree may have planted."""
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise ecr.EcrError(f"--output {output}: cannot be written ({e.strerror or e}; a link is never "
                           "followed)") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
