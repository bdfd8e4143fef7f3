import pytest

from producer.ingest import time_windows


@pytest.mark.parametrize("start, end, width", [(0, 10, 3), (5, 6, 100), (1_000, 1_000 + 86_400_000 * 3 + 7, 86_400_000)])
def test_windows_cover_the_range_with_no_gap_and_no_overlap(start, end, width):
    windows = list(time_windows(start, end, width))
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))
    assert all(0 < hi - lo <= width for lo, hi in windows)


def test_an_empty_range_is_refused():
    with pytest.raises(ValueError, match="after its start"):
        list(time_windows(10, 10, 5))
