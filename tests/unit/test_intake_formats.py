"""Files recognised from their content and read a line at a time, or refused whole with a status and one line."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from market_weather.intake.formats import Format, Line, Refused, coingecko_name, open_file

FILES = Path(__file__).parent.parent / "fixtures" / "files"
LIMIT = 1_000_000


def opened(content: bytes, name: str, limit: int = LIMIT):
    return open_file(io.BytesIO(content), name, limit)


def refused(content: bytes, name: str, limit: int = LIMIT) -> Refused:
    with pytest.raises(Refused) as caught:
        list(opened(content, name, limit).rows)
    return caught.value


def test_a_coingecko_export_is_read_row_by_row_with_its_line_numbers():
    file = opened((FILES / "btc-usd-max.csv").read_bytes(), "btc-usd-max.csv")
    assert file.format is Format.COINGECKO_CSV
    assert file.columns == ("snapped_at", "price", "market_cap", "total_volume")
    rows = list(file.rows)
    assert len(rows) == 6
    assert rows[0] == Line(
        2, {"snapped_at": "2013-04-28 00:00:00 UTC", "price": "134.21", "market_cap": "1488203117", "total_volume": "0"}
    )
    assert rows[-1].number == 7


def test_an_open_meteo_csv_gives_its_location_block_and_its_hourly_rows():
    file = opened((FILES / "open-meteo-paris-hourly.csv").read_bytes(), "paris.csv")
    assert file.format is Format.OPEN_METEO_CSV
    assert file.metadata == {
        "latitude": "48.86",
        "longitude": "2.35",
        "elevation": "43.0",
        "utc_offset_seconds": "3600",
        "timezone": "Europe/Paris",
        "timezone_abbreviation": "GMT+1",
    }
    assert file.columns[:3] == ("time", "temperature_2m (°C)", "relative_humidity_2m (%)")
    rows = list(file.rows)
    assert [row.number for row in rows] == [5, 6, 7, 8, 9, 10]
    assert isinstance(rows[0].fields, dict) and rows[0].fields["temperature_2m (°C)"] == "8.4"


def test_an_open_meteo_csv_with_a_daily_section_after_the_hourly_one_reads_each_under_its_own_header():
    text = (
        "latitude,longitude,elevation,utc_offset_seconds,timezone,timezone_abbreviation\n"
        "48.86,2.35,43.0,0,GMT,GMT\n\n"
        "time,temperature_2m (°C)\n2024-01-01T00:00,8.4\n2024-01-01T01:00,8.1\n\n"
        "time,temperature_2m_max (°C)\n2024-01-01,9.9\n"
    )
    rows = list(opened(text.encode(), "x.csv").rows)
    assert [(row.number, row.fields) for row in rows] == [
        (5, {"time": "2024-01-01T00:00", "temperature_2m (°C)": "8.4"}),
        (6, {"time": "2024-01-01T01:00", "temperature_2m (°C)": "8.1"}),
        (9, {"time": "2024-01-01", "temperature_2m_max (°C)": "9.9"}),
    ]


def test_json_lines_are_read_one_record_a_line_skipping_blank_lines():
    file = opened(b'{"a": 1}\n\n{"b": 2}\r\n', "records.jsonl")
    assert file.format is Format.JSONL
    assert list(file.rows) == [Line(1, '{"a": 1}'), Line(3, '{"b": 2}')]


def test_each_format_is_read_the_same_gzipped_and_with_a_bom_and_crlf():
    plain = (FILES / "btc-usd-max.csv").read_bytes()
    variants = [gzip.compress(plain), b"\xef\xbb\xbf" + plain.replace(b"\n", b"\r\n")]
    expected = list(opened(plain, "btc-usd-max.csv").rows)
    for content in variants:
        assert list(opened(content, "btc-usd-max.csv.gz").rows) == expected


def test_the_name_from_coingecko_gives_the_symbol_and_the_currency():
    assert coingecko_name("btc-usd-max.csv") == ("btc", "usd")
    assert coingecko_name("ETH-EUR-90d.csv.gz") == ("eth", "eur")
    assert coingecko_name("prices.csv") is None


@pytest.mark.parametrize(
    "content, name, status, words",
    [
        (b"", "btc-usd-max.csv", 400, "the file is empty"),
        (b"\n\n  \n", "btc-usd-max.csv", 400, "no line of text"),
        (b"snapped_at,price\n2013-04-28 00:00:00 UTC,1\n", "prices.xlsx", 415, "not a .csv, .jsonl or .ndjson"),
        (b'{"a": 1}\n', "prices.csv", 415, "the content is JSON Lines, which a file named 'prices.csv' is not"),
        (b"snapped_at,price\n", "x.jsonl", 415, "the content is a CoinGecko CSV export"),
        (b"date,open,high,low,close\n", "x.csv", 415, "none of the three formats"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "x.csv", 415, "binary content"),
        (b"snapped_at,price\n\x00\x01\x02", "x.csv", 415, "binary content"),
        (b"\x1f\x8b\x08\x00garbage", "x.csv.gz", 415, "not a whole gzip file"),
        ("snapped_at,price\n2013-04-28 00:00:00 UTC,1,é\n".encode("latin-1"), "x.csv", 400, "not UTF-8"),
        (b"snapped_at,market_cap\n", "x.csv", 422, "lacks price (it has snapped_at, market_cap)"),
        (b"snapped_at,price,price\n", "x.csv", 422, "names price twice"),
        (b"latitude,longitude,elevation\n48.8,2.3,4\n", "x.csv", 422, "lacks utc_offset_seconds"),
        (b"latitude,longitude,utc_offset_seconds\n", "x.csv", 422, "no values under its header"),
        (b"latitude,longitude,utc_offset_seconds\n48.8,2.3,0\n\n", "x.csv", 422, "no data under it"),
        (b"latitude,longitude,utc_offset_seconds\n48.8,2.3,0\n\nday,t\n", "x.csv", 422, "lacks time"),
        (
            b"location_id,latitude,longitude,utc_offset_seconds\n0,48.8,2.3,0\n1,35.6,139.6,32400\n\ntime,t\n",
            "x.csv",
            422,
            "several locations",
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_its_status_and_one_line(content, name, status, words):
    problem = refused(content, name)
    assert problem.status == status
    assert words in problem.message
    assert "\n" not in problem.message


def test_a_file_not_utf8_is_refused_naming_the_encoding_it_reads_as():
    text = "snapped_at,price,market_cap,total_volume\n" + "2013-04-28 00:00:00 UTC,134.21,1,0 – café à Noël\n" * 40
    problem = refused(text.encode("cp1252"), "btc-usd-max.csv")
    assert problem.status == 400 and "it reads as cp1252" in problem.message


def test_a_utf16_file_is_refused_as_not_utf8_naming_it_rather_than_as_binary():
    text = "snapped_at,price,market_cap,total_volume\n2013-04-28 00:00:00 UTC,134.21,1,0\n"
    problem = refused(text.encode("utf-16"), "btc-usd-max.csv")
    assert problem.status == 400 and "it reads as utf_16" in problem.message


def test_a_file_over_the_limit_is_refused_while_it_is_read_not_after():
    header = b"snapped_at,price,market_cap,total_volume\n"
    row = b"2013-04-28 00:00:00 UTC,134.21,1488203117,0\n"
    endless = io.BufferedReader(_Endless(header, row))
    with pytest.raises(Refused) as caught:
        list(open_file(endless, "btc-usd-max.csv", 2_000_000).rows)
    assert caught.value.status == 413 and "FILE_MAX_BYTES (2,000,000 bytes)" in caught.value.message
    assert endless.raw.served < 3_000_000, "reading stopped near the limit"


def test_a_gzip_that_inflates_past_the_limit_is_refused_before_it_is_all_inflated():
    bomb = gzip.compress(b"snapped_at,price\n" + b"0" * 50_000_000)
    assert len(bomb) < 100_000
    problem = refused(bomb, "x.csv.gz", limit=1_000_000)
    assert problem.status == 413 and problem.message.startswith("its content is larger than FILE_MAX_BYTES")


class _Endless(io.RawIOBase):
    """A file that never ends: a header, then the same row for ever; counts what it served."""

    def __init__(self, header: bytes, row: bytes):
        self.pending, self.row, self.served = header, row, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self.pending) < len(buffer):
            self.pending += self.row * 1000
        n = len(buffer)
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        self.served += n
        return n
