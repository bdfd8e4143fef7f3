"""`make bench`'s BENCH_ONLY: which figures a run measures."""

import pytest

from bench.run import FIGURES, main, select_figures


def test_no_choice_runs_every_figure():
    assert select_figures("") == (FIGURES, [])


def test_the_figures_named_run_in_the_suites_order_with_the_backfill_they_read():
    figures, notes = select_figures("dashboard, lake_ingest")
    assert figures == ("lake_ingest", "backfill", "dashboard")
    assert notes == ["BENCH_ONLY: dashboard reads the backfill's warehouse, so backfill runs too"]


def test_an_unknown_figure_is_named_with_the_valid_ones():
    valid = r"give some of lake_servers, lake_ingest, backfill"
    with pytest.raises(ValueError, match=rf"BENCH_ONLY names no figure 'dashbord': {valid}"):
        select_figures("dashbord")


def test_help_describes_the_suite_and_starts_nothing(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert "BENCH_SCALE=small" in out and "BENCH_ONLY" in out


def test_an_argument_is_refused_before_anything_starts(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["small"])
    assert exit.value.code == 2 and "unrecognized arguments: small" in capsys.readouterr().err
