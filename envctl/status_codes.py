"""envctl's exit codes: the one table every command answers with (the idea of pip's cli/status_codes.py).

A command returns OK or PROBLEM as its result; INVALID comes only from the shell (:mod:`envctl.shell`),
which turns every refused input and every unexpected failure into one `error:` message.
"""

from __future__ import annotations

OK = 0
"""Success: planned, checked clean, verified, drafted, approved, copied."""

PROBLEM = 1
"""A check or verification found a problem: a mandatory violation (an untracked change among them), a plan the
program refused because its state is not approved, a chain that does not verify, a failed pre-flight check, a
copy that was refused or stopped."""

INVALID = 2
"""Invalid input or usage: arguments, stack and project files, configuration, a refused request, a checked tree
whose program nobody approved, AWS credentials or region; and any failure envctl did not foresee (a defect)."""

MEANINGS = {OK: "success", PROBLEM: "a check or verification found a problem", INVALID: "invalid input or usage"}
