"""The comparison of a bench result with its baseline: regressions need the tolerance and
the seeds' agreement; mismatched baselines are bad input."""

from __future__ import annotations

import pytest

from phasewise.bench import BenchResult, BenchRow, compare, markdown, parse_tolerance
from phasewise_errors import ConfigError


def result(delays: dict[str, list[float]], suite: str = "s") -> BenchResult:
    rows = [BenchRow("corridor", c, list(range(1, len(d) + 1)), d, [100.0] * len(d), [1.0] * len(d),
                     {"delay_s_per_vehicle": sum(d) / len(d)}, None, 1.0, 0) for c, d in delays.items()]
    return BenchResult(suite, {}, rows)


def test_the_same_numbers_never_regress() -> None:
    base = result({"adaptive": [16.5, 18.2, 37.4]})
    assert [c.verdict for c in compare(base, base)] == ["ok"]


def test_worse_on_every_seed_beyond_the_tolerance_regresses() -> None:
    base = result({"adaptive": [16.5, 18.2, 37.4], "static": [35.0, 36.0, 36.5]})
    now = result({"adaptive": [17.5, 19.4, 39.9], "static": [35.5, 36.2, 36.6]})  # +6 % each; +0.5 %
    verdicts = {c.controller: c.verdict for c in compare(base, now, 0.03)}
    assert verdicts == {"adaptive": "regression", "static": "ok"}
    assert verdicts == {c.controller: c.verdict for c in compare(base, now, 0.03)}
    assert {c.controller: c.verdict for c in compare(now, base, 0.03)}["adaptive"] == "better"


def test_a_mean_moved_by_one_noisy_seed_is_not_a_regression() -> None:
    # +60 % on one seed (a jam), -5 % and +2 % on the others: the seeds disagree
    base = result({"adaptive": [20.0, 20.0, 20.0]})
    now = result({"adaptive": [32.0, 19.0, 20.4]})
    (c,) = compare(base, now, 0.03)
    assert c.change > 0.03 and c.verdict == "ok"


def test_mismatched_baselines_are_bad_input() -> None:
    base = result({"adaptive": [20.0, 21.0]})
    with pytest.raises(ConfigError, match="suite 's'.*'other'|suite 'other'"):
        compare(result({"adaptive": [20.0, 21.0]}, suite="other"), base)
    with pytest.raises(ConfigError, match="not in the baseline: corridor / static"):
        compare(base, result({"adaptive": [20.0, 21.0], "static": [30.0, 31.0]}))


def test_markdown_names_each_row_and_the_verdict() -> None:
    base = result({"adaptive": [20.0, 21.0]})
    now = result({"adaptive": [26.0, 27.3]})
    text = markdown(compare(base, now), base, now, 0.03)
    assert "1 regression(s)" in text and "| corridor | adaptive | 1,2 | 20.5 | 26.6 | +30.0% | **regression** |" in text


@pytest.mark.parametrize("text, value", [("3%", 0.03), ("0.05", 0.05), (" 10 % ".replace(" ", ""), 0.10)])
def test_tolerance(text: str, value: float) -> None:
    assert parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["three", "-1%", "nan", "inf"])
def test_bad_tolerance(text: str) -> None:
    with pytest.raises(ConfigError, match="--tolerance"):
        parse_tolerance(text)
