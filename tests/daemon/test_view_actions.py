"""The dashboard's action queue: run by the loop's thread; withdrawn when not taken in time."""

from __future__ import annotations

import threading
import time

from daemon.snapshot import ActionResult, HandBack, TakeControl
from daemon.view import ActionQueue


def submit_in_thread(actions: ActionQueue, action: object) -> tuple[threading.Thread, list[ActionResult]]:
    out: list[ActionResult] = []
    thread = threading.Thread(target=lambda: out.append(actions.submit(action)))  # type: ignore[arg-type]
    thread.start()
    return thread, out


def test_the_loop_runs_the_action_and_the_caller_gets_its_result() -> None:
    actions = ActionQueue(timeout_s=5.0)
    thread, out = submit_in_thread(actions, HandBack("alice"))
    ran: list[object] = []
    end = time.monotonic() + 5
    while not ran and time.monotonic() < end:  # the loop's steps
        actions.drain(lambda a: ran.append(a) or ActionResult(True, f"ran {type(a).__name__}"))
        time.sleep(0.01)
    thread.join(5)
    assert ran == [HandBack("alice")] and out == [ActionResult(True, "ran HandBack")]


def test_an_action_not_taken_in_time_never_runs() -> None:
    actions = ActionQueue(timeout_s=0.1)
    thread, out = submit_in_thread(actions, TakeControl("bob"))
    thread.join(5)
    assert not out[0].ok and "did not take" in out[0].detail
    assert actions.drain(lambda a: ActionResult(True, "ran")) == 0  # withdrawn: the loop skips it


def test_a_failing_action_is_reported_and_the_next_still_runs() -> None:
    actions = ActionQueue(timeout_s=5.0)
    first, out1 = submit_in_thread(actions, HandBack("a"))
    second, out2 = submit_in_thread(actions, TakeControl("a"))
    time.sleep(0.1)

    def run(action: object) -> ActionResult:
        if isinstance(action, HandBack):
            raise RuntimeError("boom")
        return ActionResult(True, "taken back")

    assert actions.drain(run) == 2
    first.join(5)
    second.join(5)
    assert not out1[0].ok and "boom" in out1[0].detail and out2[0] == ActionResult(True, "taken back")
