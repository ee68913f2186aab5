"""The one place where an exception becomes a message and an exit code (the idea of pip's
cli/base_command.py). Commands return OK or PROBLEM as their result and raise for everything else;
nothing else in envctl prints `error:`.

| raised | exit | message |
|---|---|---|
| :class:`~envctl.errors.Problem` (CopyRefused, ...) | 1 | its text; with --json its report on stdout too |
| :class:`~envctl.errors.UsageError` (EcrError, NotACloneTarget, ...), StackFileError, ExampleError, InvalidStackConfig, SignatureError, StrictYamlError | 2 | its text |
| AWS configuration: ProfileNotFound, NoCredentialsError, PartialCredentialsError, NoRegionError | 2 | `AWS credentials or region: ...` |
| any other AWS error (ClientError, BotoCoreError) | 1 | the command's AWS_STOPPED text: what did not happen |
| BrokenPipeError: the reader closed our output (envctl piped into head) | 1 | none: the output was cut short, so the result is not known to be clean |
| anything else a defect can raise | 2 | a defect of envctl; ENVCTL_DEBUG=1 re-raises it for the traceback |
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from types import ModuleType

from botocore.exceptions import BotoCoreError, ClientError

from changecontrol.sshsig import SignatureError
from changecontrol.stackfiles import StackFileError
from changecontrol.strictyaml import StrictYamlError
from changecontrol.trust import ExampleError
from components.engines import EngineVersionsFileError
from components.settings import InvalidStackConfig

from . import status_codes
from .aws.session import CONFIG_ERRORS
from .errors import EnvctlError, Problem

INVALID_INPUT = (StackFileError, ExampleError, InvalidStackConfig, SignatureError, StrictYamlError,
                 EngineVersionsFileError)
DEFECTS = (RecursionError, MemoryError, OSError, ValueError, TypeError, KeyError, AttributeError)
AWS_STOPPED = "an AWS call failed, so the command did not finish: {error}"


def error(*messages: str) -> None:
    for message in messages:
        print(f"error: {message}", file=sys.stderr)


def _quiet_stdout() -> None:
    """The reader of our output went away (`envctl check | head`): nothing more can be said, and the
    interpreter's own flush at exit must not fail again with a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a file (captured): nothing will be flushed to a closed pipe


def run(command: ModuleType | None, body: Callable[[], int], as_json: bool = False) -> int:
    """Run a command's `body` and turn whatever it raises into one `error:` message and an exit code of
    :mod:`envctl.status_codes`. `command` is the command's module (for its AWS_STOPPED text)."""
    try:
        return body()
    except EnvctlError as e:
        if isinstance(e, Problem) and as_json and e.report is not None:
            print(json.dumps(e.report, indent=2))
        error(*e.messages)
        return e.exit_code
    except INVALID_INPUT as e:
        error(str(e))
        return status_codes.INVALID
    except CONFIG_ERRORS as e:
        error(f"AWS credentials or region: {e}")
        return status_codes.INVALID
    except (ClientError, BotoCoreError) as e:
        error(getattr(command, "AWS_STOPPED", AWS_STOPPED).format(error=e))
        return status_codes.PROBLEM
    except BrokenPipeError:
        _quiet_stdout()
        return status_codes.PROBLEM
    except DEFECTS as e:
        if os.environ.get("ENVCTL_DEBUG"):
            raise
        error(f"envctl could not handle this input ({type(e).__name__}: {str(e)[:300]}); nothing was changed. This "
              "is a defect of envctl: please report it (ENVCTL_DEBUG=1 shows the traceback)")
        return status_codes.INVALID
