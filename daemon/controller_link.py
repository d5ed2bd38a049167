"""How long the daemon's 1 s step may wait for a controller that does not answer.

The tactical loop talks to each controller at most twice in a step: ``status`` (GET), then
the step's commands (SET). When the controller goes silent between the two, both wait for
their full timeout, so a request's worst case (``RetryPolicy.worst_case_s``: every attempt
and every pause between them) must fit twice in the step with room left for the cameras,
the policy and the state: ``STEP_REQUEST_BUDGET_S`` (0.3 s of a 1 s step; 0.4 s stays for the
rest, whose p99.9 is far below that, see ``benchmarks/daemon_soak.py``).

So the daemon asks once per request, with a 0.3 s timeout, and never retries inside a step: a
request that gets no answer marks the controller unreachable and the NTCIP backend tries
again on a later step, after a pause that doubles up to ``max_reconnect_s``
(``NtcipBackend``). A cabinet network answers in milliseconds, so 0.3 s is generous; a
single lost datagram costs one pause (``reconnect_s``) without central commands, during which
the controller keeps its running pattern, as it does whenever the daemon is silent
(``unitBackupTime``).
"""

from __future__ import annotations

from dataclasses import replace

from controllers.ntcip.backend import NtcipSettings
from controllers.ntcip.client import RetryPolicy

STEP_REQUEST_BUDGET_S = 0.3
STEP_RETRY = RetryPolicy(timeout_s=STEP_REQUEST_BUDGET_S, attempts=1, backoff_s=0.0)
RECONNECT_S = 1.0  # first pause after a silent controller: the next step but one
MAX_RECONNECT_S = 16.0  # a controller down for long is still looked for every 16 s


def worst_case_s(retry: RetryPolicy) -> float:
    """Longest one request waits for an agent that never answers: every attempt and pause (s)."""
    return retry.attempts * retry.timeout_s + sum(retry.delays_s())


def fits_step(retry: RetryPolicy, budget_s: float = STEP_REQUEST_BUDGET_S) -> bool:
    return worst_case_s(retry) <= budget_s + 1e-9


def step_settings(settings: NtcipSettings = NtcipSettings(), retry: RetryPolicy = STEP_RETRY) -> NtcipSettings:
    """``settings`` with the daemon's per-step request policy and reconnect pauses."""
    return replace(settings, retry=retry, reconnect_s=RECONNECT_S, max_reconnect_s=MAX_RECONNECT_S)
