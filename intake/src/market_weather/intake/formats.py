"""The files the platform takes, recognised from their content and read a row at a time.

Three formats, each as its source writes it:

- `coingecko_csv`: CoinGecko's historical export of one coin, `snapped_at,price,market_cap,total_volume`, its
  times like `2013-04-28 00:00:00 UTC`, named by the site `<symbol>-<currency>-<range>.csv` (`btc-usd-max.csv`);
- `open_meteo_csv`: Open-Meteo's CSV download: a block of `latitude,longitude,elevation,utc_offset_seconds,timezone,
  timezone_abbreviation` and its values, a blank line, then `time,<variable> (<unit>),…`, its times local at
  `utc_offset_seconds` (or the data alone, without the block, when the request omitted it);
- `jsonl`: JSON Lines, one record a line, each shaped like the APIs' own.

Any of them may come gzipped. The format is the content's: the name only has to agree with it. Reading streams:
a line at a time, whatever the file's size, the bytes read (after decompression) counted against a limit as they
come. Nothing here touches the lake or a disk; a file refused is a `Refused` with the HTTP status it answers and
one message naming the problem.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

from charset_normalizer import from_bytes

COINGECKO_CSV_COLUMNS = ("snapped_at", "price", "market_cap", "total_volume")
COINGECKO_REQUIRED = ("snapped_at", "price")
OPEN_METEO_METADATA = ("latitude", "longitude", "elevation", "utc_offset_seconds", "timezone", "timezone_abbreviation")
OPEN_METEO_METADATA_REQUIRED = ("latitude", "longitude", "utc_offset_seconds")
GZIP_MAGIC = b"\x1f\x8b"
UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
SAMPLE_BYTES = 64 * 1024  # what the encoding of a file that is not UTF-8 is guessed from
CHUNK_BYTES = 256 * 1024
# How CoinGecko names an export: <symbol>-<currency>-<range>.csv (`btc-usd-max.csv`, `eth-eur-90d.csv`).
COINGECKO_NAME = re.compile(r"^(?P<symbol>[a-z0-9]+)-(?P<currency>[a-z]{3,4})-(?P<range>[a-z0-9]+)\.csv(\.gz)?$")


class Format(StrEnum):
    COINGECKO_CSV = "coingecko_csv"
    OPEN_METEO_CSV = "open_meteo_csv"
    JSONL = "jsonl"


# What a name's extension says the file holds: CSV is either of the two CSV formats.
EXTENSIONS = {
    ".csv": (Format.COINGECKO_CSV, Format.OPEN_METEO_CSV),
    ".jsonl": (Format.JSONL,),
    ".ndjson": (Format.JSONL,),
}


class Refused(Exception):
    """A file refused whole, before anything of it is kept: the HTTP status it answers and why, in one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def declared(name: str) -> tuple[Format, ...]:
    """The formats a file's name allows (its extension, after any `.gz`); 415 for any other name."""
    lowered = name.lower()
    base = lowered[:-3] if lowered.endswith(".gz") else lowered
    for extension, formats in EXTENSIONS.items():
        if base.endswith(extension):
            return formats
    raise Refused(415, f"{_quoted(name)} is not a .csv, .jsonl or .ndjson file (gzipped or not)")


def coingecko_name(name: str) -> tuple[str, str] | None:
    """(symbol, currency) from a name as CoinGecko gives its exports (`btc-usd-max.csv`: ("btc", "usd"))."""
    match = COINGECKO_NAME.match(name.lower())
    return (match["symbol"], match["currency"]) if match else None


class _Limited(io.RawIOBase):
    """A binary stream that refuses (413) more than `limit` bytes: a file's own, or what its gzip inflates to."""

    def __init__(self, raw: IO[bytes], limit: int, what: str):
        self.raw, self.limit, self.what, self.count = raw, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise Refused(413, f"{self.what} is larger than FILE_MAX_BYTES ({self.limit:,} bytes)")
        buffer[: len(data)] = data
        return len(data)


def _quoted(name: str) -> str:
    shown = name if len(name) <= 80 else name[:77] + "..."
    return repr(shown)


class Text:
    """A file's text, a line at a time: gunzipped when it is gzip, decoded as UTF-8 (a BOM allowed), every byte
    counted against `limit`; 400 for an empty file or one that is not UTF-8 (naming the encoding it reads as), 415
    for binary content, 413 past the limit."""

    def __init__(self, raw: IO[bytes], limit: int):
        head = raw.read(2)
        self.gzipped = head == GZIP_MAGIC
        whole: Any = _Prefixed(head, raw)
        stream: Any = gzip.GzipFile(fileobj=whole, mode="rb") if self.gzipped else whole
        self._bytes = io.BufferedReader(_Limited(stream, limit, "its content" if self.gzipped else "the file"))
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.line_number = 0
        self._done = False
        self._started = False

    def _chunk(self) -> str:
        try:
            data = self._bytes.read(CHUNK_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise Refused(415, f"the file is not a whole gzip file ({type(exc).__name__})") from None
        if not self._started:
            self._started = True
            if not data:
                raise Refused(400, "the file is empty")
        if b"\x00" in data:
            if data.startswith(UTF16_32_BOMS):
                raise Refused(400, f"the file is not UTF-8: it reads as {_encoding_of(data)}")
            raise Refused(415, "the file holds binary content (NUL bytes), not text")
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            where = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not UTF-8"
            raise Refused(400, f"the file is not UTF-8: it reads as {_encoding_of(data)} ({where})") from None
        if not data:
            self._done = True
        return text

    def lines(self) -> Iterator[str]:
        """Each line, its end removed (LF or CRLF); `line_number` is the line's, from 1."""
        pending = ""
        while not self._done:
            parts = (pending + self._chunk()).split("\n")
            pending = parts.pop()
            for line in parts:
                self.line_number += 1
                yield line[:-1] if line.endswith("\r") else line
        if pending:
            self.line_number += 1
            yield pending[:-1] if pending.endswith("\r") else pending


def _encoding_of(data: bytes) -> str:
    """The encoding text of `data` reads as (charset-normalizer's best guess)."""
    guess = from_bytes(data[:SAMPLE_BYTES]).best()
    return guess.encoding if guess is not None else "no encoding known"


class _Prefixed(io.RawIOBase):
    """`head` (bytes already read from `raw`) and then the rest of `raw`."""

    def __init__(self, head: bytes, raw: IO[bytes]):
        self.head, self.raw = head, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class Line:
    """A row as read: its line number in the file and its fields by column (a JSON line: its text)."""

    number: int
    fields: dict[str, str] | str


@dataclass
class Opened:
    """A file recognised: its format, what its header says, and its rows as they are read."""

    format: Format
    rows: Iterator[Line]
    columns: tuple[str, ...] = ()
    metadata: dict[str, str] | None = None  # Open-Meteo's block (None: the file has none)


def recognise(first: str) -> Format:
    """The format a file's first line shows; 415 when it is none of the three."""
    stripped = first.lstrip()
    if stripped.startswith("{"):
        return Format.JSONL
    header = [cell.strip() for cell in next(csv.reader([first]), [])]
    if header[:1] == ["snapped_at"]:
        return Format.COINGECKO_CSV
    start = header[1:] if header[:1] == ["location_id"] else header
    if start[:2] == ["latitude", "longitude"] or start[:1] == ["time"]:
        return Format.OPEN_METEO_CSV
    shown = first if len(first) <= 60 else first[:57] + "..."
    raise Refused(
        415,
        "the content is none of the three formats (a CoinGecko CSV export, an Open-Meteo CSV, JSON Lines): "
        f"its first line is {shown!r}",
    )


def open_file(raw: IO[bytes], name: str, limit: int) -> Opened:
    """A file's format, recognised from its content and checked against its name, and its rows to read.

    Refused (with nothing read past its header) when it is empty, binary, not UTF-8, over `limit`, of a name that
    says another format, or when its header lacks a column the format needs (422)."""
    allowed = declared(name)
    text = Text(raw, limit)
    lines = text.lines()
    first = next(lines, None)
    while first is not None and not first.strip():
        first = next(lines, None)
    if first is None:
        raise Refused(400, "the file holds no line of text")
    found = recognise(first)
    if found not in allowed:
        raise Refused(415, f"the content is {_FORMAT_NAMES[found]}, which a file named {_quoted(name)} is not")
    if found is Format.JSONL:
        return Opened(found, _json_lines(text, first, lines))
    if found is Format.COINGECKO_CSV:
        columns = _header(first)
        _require(columns, COINGECKO_REQUIRED, "a CoinGecko export")
        return Opened(found, _csv_rows(text, columns, lines), columns)
    return _open_meteo(text, first, lines)


_FORMAT_NAMES = {
    Format.COINGECKO_CSV: "a CoinGecko CSV export",
    Format.OPEN_METEO_CSV: "an Open-Meteo CSV",
    Format.JSONL: "JSON Lines",
}


def _header(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in next(csv.reader([line]), []))


def _require(columns: tuple[str, ...], required: tuple[str, ...], what: str) -> None:
    missing = [name for name in required if name not in columns]
    if missing:
        raise Refused(422, f"the header of {what} lacks {', '.join(missing)} (it has {', '.join(columns) or 'none'})")
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise Refused(422, f"the header of {what} names {', '.join(duplicated)} twice")


def _csv_rows(text: Text, columns: tuple[str, ...], lines: Iterator[str]) -> Iterator[Line]:
    """The rows under `columns`, each a line (a blank line skipped); a row's missing cells are empty, and cells past
    the header are kept together under the name "" for the row's check to name."""
    width = len(columns)
    for cells in csv.reader(lines):
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) == width:
            fields = dict(zip(columns, cells, strict=True))
        else:
            fields = dict(zip(columns, cells + [""] * (width - len(cells)), strict=False))
            if len(cells) > width:
                fields[""] = ",".join(cells[width:])
        yield Line(text.line_number, fields)


def _json_lines(text: Text, first: str, lines: Iterator[str]) -> Iterator[Line]:
    yield Line(text.line_number, first)
    for line in lines:
        if line.strip():
            yield Line(text.line_number, line)


def _open_meteo(text: Text, first: str, lines: Iterator[str]) -> Opened:
    header = _header(first)
    if "time" in header:  # the data alone: the request omitted the location's block
        return Opened(Format.OPEN_METEO_CSV, _sections(text, header, lines), header, None)
    _require(header, OPEN_METEO_METADATA_REQUIRED, "an Open-Meteo CSV's location block")
    values = next(lines, None)
    if values is None or not values.strip():
        raise Refused(422, "the location block of an Open-Meteo CSV has no values under its header")
    metadata = dict(zip(header, (cell.strip() for cell in next(csv.reader([values]), [])), strict=False))
    if "location_id" in header:
        # One block line per location: the data of each follows under a location_id column.
        more = next(lines, None)
        if more is not None and more.strip():
            raise Refused(422, "an Open-Meteo CSV of several locations: upload one location per file")
    data = next((line for line in lines if line.strip()), None)
    if data is None:
        raise Refused(422, "an Open-Meteo CSV with a location block and no data under it")
    columns = _header(data)
    _require(columns, ("time",), "an Open-Meteo CSV's data")
    return Opened(Format.OPEN_METEO_CSV, _sections(text, columns, lines), columns, metadata)


def _sections(text: Text, columns: tuple[str, ...], lines: Iterator[str]) -> Iterator[Line]:
    """An Open-Meteo CSV's rows: a blank line ends a section (hourly, then daily, ...), and the next line is the
    header of the rows after it."""
    after_blank = False
    for line in lines:
        if not line.strip():
            after_blank = True
            continue
        if after_blank and line.startswith(("time,", "location_id,time,")):
            columns = _header(line)
            after_blank = False
            continue
        after_blank = False
        yield from _csv_rows(text, columns, iter([line]))
