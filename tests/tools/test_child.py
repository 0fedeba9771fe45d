"""Heavy steps run in a child process: results, errors a person can fix, and a child that dies."""

from __future__ import annotations

import os

import pytest
from pydantic import BaseModel

from tools.core.child import run_in_child
from tools.core.errors import InputError, TunepilotError


class Ask(BaseModel):
    n: int
    how: str = "ok"


class Answer(BaseModel):
    n: int
    pid: int


def work(req: Ask) -> Answer:
    if req.how == "input":
        raise InputError("the adapter folder has no adapter_config.json", where="runs/x/adapter",
                         hint="Train first")
    if req.how == "bug":
        raise ZeroDivisionError("division by zero")
    if req.how == "die":
        os._exit(9)
    return Answer(n=req.n * 2, pid=os.getpid())


def test_the_result_comes_from_another_process() -> None:
    out = run_in_child("tests.tools.test_child:work", Ask(n=21), Answer)
    assert out.n == 42 and out.pid != os.getpid()


def test_an_error_a_person_can_fix_keeps_its_class_place_and_hint() -> None:
    with pytest.raises(InputError) as err:
        run_in_child("tests.tools.test_child:work", Ask(n=1, how="input"), Answer)
    assert str(err.value) == "runs/x/adapter: the adapter folder has no adapter_config.json. Train first"


def test_a_bug_in_the_child_is_one_sentence_here(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(TunepilotError, match="the merge process failed: ZeroDivisionError: division by zero"):
        run_in_child("tests.tools.test_child:work", Ask(n=1, how="bug"), Answer, what="merge")
    assert "Traceback" in capfd.readouterr().err  # the details stay in the log, not in the message


def test_a_child_that_dies_says_so() -> None:
    with pytest.raises(TunepilotError, match=r"the merge process ended without a result \(exit code 9\)"):
        run_in_child("tests.tools.test_child:work", Ask(n=1, how="die"), Answer, what="merge")
