"""Packed callback data is aiogram's, remembered."""

from __future__ import annotations

import pytest

from bot.callbacks import Answer, Nav, News, packed


def test_packed_is_what_aiogram_packs_and_is_remembered() -> None:
    assert packed(Answer, q="study_visits", v="yes") == "qa:study_visits:yes"
    assert packed(Nav, action="submit") == Nav(action="submit").pack() == "qn:submit:"
    assert packed(News, on=True) == News(on=True).pack()
    hits = packed.cache_info().hits
    assert packed(Answer, q="study_visits", v="yes") == "qa:study_visits:yes"
    assert packed.cache_info().hits == hits + 1


def test_a_value_with_the_separator_is_still_refused() -> None:
    with pytest.raises(ValueError):
        packed(Answer, q="a:b", v="yes")
