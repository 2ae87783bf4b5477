"""The programme's list of communities in temporarily occupied territory (`[occupied]`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.cli import cmd_programme_check
from bot.programme import PROGRAMMES_DIR, ProgrammeError, load_programme
from bot.services.pickers import DEFAULT_OCCUPIED, is_occupied

REAL = PROGRAMMES_DIR / "win4ua-2026.toml"
DOLMATIVSKA = "UA65080050000077041"  # Skadovsk raion, Kherson oblast


def _edited(tmp_path: Path, occupied: str) -> Path:
    text = REAL.read_text(encoding="utf-8")
    start = text.index("[occupied]")
    end = text.index("\n\n", start)
    path = tmp_path / "programme.toml"
    path.write_text(text[:start] + f"[occupied]\nkatottg = {occupied}" + text[end:],
                    encoding="utf-8")
    return path


def test_both_programmes_list_crimea_sevastopol_and_skadovsk() -> None:
    for name in ("win4ua-2026.toml", "demo.toml"):
        occupied = load_programme(PROGRAMMES_DIR / name).occupied.katottg
        assert {"UA01", "UA85", "UA6508"} <= set(occupied)
        assert is_occupied(DOLMATIVSKA, occupied)
        assert not is_occupied("UA32020010000093088", occupied)  # Bila Tserkva


def test_without_the_section_crimea_and_sevastopol_are_still_out(tmp_path: Path) -> None:
    text = REAL.read_text(encoding="utf-8")
    start = text.index("[occupied]")
    end = text.index("\n\n", start)
    path = tmp_path / "programme.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    assert load_programme(path).occupied.katottg == DEFAULT_OCCUPIED


@pytest.mark.parametrize("bad", ['["Crimea"]', '["ua01"]', '["UA1"]', '"UA01"'])
def test_malformed_codes_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ProgrammeError) as caught:
        load_programme(_edited(tmp_path, bad))
    assert "occupied" in str(caught.value)


async def test_programme_check_reports_codes_matching_no_community(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(file=str(_edited(tmp_path, '["UA01", "UA99"]')))
    assert await cmd_programme_check(None, args) == 1  # type: ignore[arg-type]
    assert "UA99" in capsys.readouterr().err
    args = argparse.Namespace(file=str(_edited(tmp_path, f'["UA01", "{DOLMATIVSKA}"]')))
    assert await cmd_programme_check(None, args) == 0  # type: ignore[arg-type]
    assert "occupied: 2" in capsys.readouterr().out
