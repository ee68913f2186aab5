"""Progress on a terminal: "stack n of N" and the time left, one line rewritten; nothing in logs or pipes."""

from __future__ import annotations

import io

from envctl.check import check_all
from envctl.progress import Progress
from tests.conftest import OPTIONS, PROJECT


class Clock:
    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


def test_a_terminal_sees_one_line_with_the_count_and_the_time_left():
    out = io.StringIO()
    progress = Progress(out, is_terminal=lambda: True, clock=Clock(10.0))
    progress.start(4)
    progress.advance()
    progress.advance()
    progress.finish()
    text = out.getvalue()
    assert "\n" not in text
    frames = text.split("\r")[1:]
    assert frames[0].startswith("stack 0 of 4, estimating the time left")
    assert frames[1].startswith("stack 1 of 4, about 30 s left")  # 10 s for the first: 3 left
    assert frames[2].startswith("stack 2 of 4, about 20 s left")  # 20 s for two: 2 left
    assert frames[-1] == "" and frames[-2].strip() == ""  # the line is cleared for what follows


def test_stacks_answered_from_the_cache_do_not_count_in_the_estimate():
    out = io.StringIO()
    progress = Progress(out, is_terminal=lambda: True, clock=Clock(60.0))
    progress.start(100, already=98)
    progress.advance()
    assert out.getvalue().split("\r")[-1].startswith("stack 99 of 100, about 1 min 00 s left")
    progress.advance()
    assert out.getvalue().split("\r")[-1].startswith("stack 100 of 100, done")


def test_nothing_is_printed_to_a_log_or_a_pipe():
    out = io.StringIO()  # not a terminal
    progress = Progress(out, clock=Clock(1.0))
    progress.start(500)
    progress.advance(250)
    progress.finish()
    assert out.getvalue() == ""


def test_nothing_is_printed_for_a_single_stack():
    out = io.StringIO()
    progress = Progress(out, is_terminal=lambda: True, clock=Clock(1.0))
    progress.start(1)
    progress.advance()
    progress.finish()
    assert out.getvalue() == ""


def test_check_reports_each_stack_on_a_terminal(example_copy):
    out = io.StringIO()
    results = check_all(PROJECT, example_copy, ["sandbox", "demo"], None, OPTIONS, jobs=1,
                        progress=Progress(out, is_terminal=lambda: True, clock=Clock(5.0)))
    assert [r.stack for r in results] == ["sandbox", "demo"]
    frames = [f.strip() for f in out.getvalue().split("\r") if f.strip()]
    assert frames == ["stack 0 of 2, estimating the time left", "stack 1 of 2, about 5 s left",
                      "stack 2 of 2, done"]


def test_check_prints_no_progress_when_stderr_is_no_terminal(example_copy, capsys):
    check_all(PROJECT, example_copy, ["sandbox", "demo"], None, OPTIONS, jobs=1, progress=Progress())
    assert capsys.readouterr().err == ""  # pytest's captured stderr is not a terminal


def test_plan_reports_each_stack_on_a_terminal(example_copy):
    from envctl.offline import RunOptions
    from envctl.planning import plan_all
    from tests.conftest import EXAMPLE, NOW

    out = io.StringIO()
    results = plan_all(PROJECT, example_copy, RunOptions(now=NOW, example=EXAMPLE), ["sandbox", "demo"],
                       progress=Progress(out, is_terminal=lambda: True, clock=Clock(5.0)))
    assert [(stack, run is not None, error) for stack, run, error in results] == [("sandbox", True, None),
                                                                                 ("demo", True, None)]
    frames = [f.strip() for f in out.getvalue().split("\r") if f.strip()]
    assert frames == ["stack 0 of 2, estimating the time left", "stack 1 of 2, about 5 s left",
                      "stack 2 of 2, done"]
