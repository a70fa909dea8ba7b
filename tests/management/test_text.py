"""Durations and dates as people type them, and times as they read them."""

from __future__ import annotations

import datetime

import pytest

from tokenward import ValidationError
from tokenward.management.text import end_of_day, format_time, parse_duration, table


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("90", 90, id="bare-seconds"),
        pytest.param("90s", 90, id="seconds"),
        pytest.param("30m", 1800, id="minutes"),
        pytest.param("24h", 86_400, id="hours"),
        pytest.param("7d", 604_800, id="days"),
        pytest.param("2w", 1_209_600, id="weeks"),
        pytest.param("1y", 31_536_000, id="year-of-365-days"),
        pytest.param("1h30m", 5400, id="compound"),
        pytest.param(" 24H ", 86_400, id="any-case-and-spaces"),
    ],
)
def test_durations_are_read_in_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("h", id="unit-only"),
        pytest.param("-1h", id="negative"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("3 days", id="words"),
        pytest.param("99999999999y", id="absurdly-long"),
    ],
)
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_duration(text)


def test_a_date_means_its_last_second_in_local_time() -> None:
    expected = datetime.datetime(2027, 2, 1, 23, 59, 59).timestamp()
    assert end_of_day("2027-02-01") == int(expected)


@pytest.mark.parametrize("text", ["2027-02-30", "01/02/2027", "2027-2-1", "tomorrow"])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        end_of_day(text)


def test_missing_times_read_as_given_and_huge_ones_stay_numbers() -> None:
    assert format_time(None) == "never"
    assert format_time(None, "-") == "-"
    assert format_time(10**15) == str(10**15)


def test_table_columns_line_up() -> None:
    assert table([["A", "BB", "C"], ["aaa", "b", "c"]]) == ["A    BB  C", "aaa  b   c"]
