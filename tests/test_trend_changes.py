"""The changes of the trends: rates for periods of unequal length, and the FDR over every issue."""

from __future__ import annotations

from datetime import date

import pytest

from persona_mining.report.issue_series import IssueSeries, IssueTrends
from persona_mining.stats import count_change


def test_a_longer_month_at_the_same_daily_rate_is_no_change() -> None:
    # February's 28 days against March's 31: 2,800 and 3,100 tickets are 100 a day both.
    same = count_change(3100, 2800, lengths=(31, 28))
    assert same.change == pytest.approx(0.0) and not same.significant and same.p_value > 0.5
    assert same.low is not None and same.high is not None and same.low < 0 < same.high
    # Counted as equal periods, the same counts read as a significant rise of 11%.
    assert count_change(3100, 2800).significant
    # A real rise of the daily rate is still one.
    assert count_change(3600, 2800, lengths=(31, 28)).significant
    with pytest.raises(ValueError, match="positive"):
        count_change(1, 1, lengths=(0, 7))


def _months(counts: list[tuple[int, int]], others: tuple[tuple[int, int], ...] = ()) -> IssueTrends:
    return IssueTrends(
        period="month",
        periods=(date(2026, 2, 1), date(2026, 3, 1)),
        partial=(False, False),
        series=tuple(
            IssueSeries(topic_id=i, issue=f"issue {i}", counts=pair, total=sum(pair))
            for i, pair in enumerate(counts)
        ),
        data_from=None,
        data_to=None,
        days=(28, 31),
        others=others,
    )


def test_the_change_of_a_month_is_that_of_its_daily_rate() -> None:
    trends = _months([(92, 105)])
    latest, previous, change = trends.change(trends.series[0])
    assert (latest, previous) == (105, 92)
    assert change == pytest.approx(105 / 31 / (92 / 28) - 1)  # +3%, where the counts say +14%
    evidence = trends.evidence(trends.series[0])
    assert evidence is not None and evidence.change == pytest.approx(change)


def test_one_change_in_thirty_at_p_below_005_is_not_called_significant() -> None:
    # 9 against 1 is p = 0.021 alone; among 29 other issues that did not move, it is noise.
    quiet = tuple((20, 20) for _ in range(29))
    alone = _months([(1, 9)])
    assert alone.evidence(alone.series[0]).significant  # type: ignore[union-attr]
    among = _months([(1, 9)], others=quiet)
    evidence = among.evidence(among.series[0])
    assert evidence is not None and evidence.p_value < 0.05
    assert evidence.q_value is not None and evidence.q_value >= 0.05
    assert not evidence.significant
    # A change far beyond chance stays significant in the same family.
    strong = _months([(10, 90)], others=quiet)
    assert strong.evidence(strong.series[0]).significant  # type: ignore[union-attr]
    # Issues with no ticket in either period are no test and do not widen the family.
    empty = _months([(1, 9)], others=tuple((0, 0) for _ in range(29)))
    assert empty.evidence(empty.series[0]).significant  # type: ignore[union-attr]
