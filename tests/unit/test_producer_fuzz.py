"""Seeded fuzz: real-shaped API responses, one record (or the response itself) mutated, through validation.

No exception escapes; a bad record costs only itself; every document and dead letter is one the lake
can hold; every CoinCap figure stored is one the job's DECIMAL(38,18) cast takes. The same cases go
through the real writer into the real lake in tests/integration/test_lake.py.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bson

from market_weather.lake import MAX_DOCUMENT_BYTES, Batch, unstorable
from market_weather.producer import records
from market_weather.producer.casts import fits_money
from tests.conftest import load_fixture

SEED = 20260521
RESPONSES = 3000
SIBLINGS = 6
MONEY_FIELDS = ("priceUsd", "supply", "maxSupply", "marketCapUsd", "volumeUsd24Hr", "changePercent24Hr", "vwap24Hr")
FETCHED = datetime(2026, 5, 21, 8, 0, tzinfo=UTC)


@dataclass
class Case:
    """One mutated response, what validates it, and what of it must survive."""

    number: int
    endpoint: str
    response: Any
    validate: Callable[[Any, records.Envelope], Batch]
    records: int | None  # how many records the response holds; None when its shape itself was mutated
    untouched: list[dict]  # records the mutation left alone: each must be stored as a document

    def run(self) -> Batch:
        envelope = records.Envelope("fuzz", self.endpoint, FETCHED, f"fuzz-{self.number}")
        return self.validate(self.response, envelope)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = {"n": value} if level % 2 else [value]
    return value


def _decimal_text(rng: random.Random) -> str:
    """A string near the edges of what Spark casts to DECIMAL(38,18)."""
    digits = "0123456789" if rng.random() < 0.9 else "0123456789١２"
    whole = "".join(rng.choice(digits) for _ in range(rng.choice([0, 1, 5, 19, 20, 21, 25, 39, 45])))
    fraction = "".join(rng.choice(digits) for _ in range(rng.choice([0, 1, 17, 18, 19, 30])))
    text = (
        rng.choice(["", "-", "+"]) + whole + (rng.choice([".", ""]) if fraction else rng.choice(["", "."])) + fraction
    )
    if rng.random() < 0.3:
        text += rng.choice("eE") + rng.choice(["", "-", "+"]) + str(rng.choice([0, 1, 2, 19, 21, 40, 2**31 + 3]))
    if rng.random() < 0.15:
        text = rng.choice([" ", "\t", "\x00", "\u00a0", "_"]).join([text[:2], text[2:]])
    return text


def _nasty(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 2 else 6)
    if kind == 0:
        return rng.choice(
            [2**63, -(2**63) - 1, 2**64 + rng.randrange(10**6), 10 ** rng.randrange(19, 40), 2**63 - 1, -1, 0]
            + [records.MAX_EPOCH_MS + 1, records.MAX_EPOCH_S + 1, 2**53 + 1, rng.randrange(-(10**12), 10**14)]
        )
    if kind == 1:
        return rng.choice([float("nan"), float("inf"), float("-inf"), 1e308, -0.0, rng.uniform(-1e6, 1e6)])
    if kind == 2:
        return _decimal_text(rng)
    if kind == 3:
        return rng.choice(["", "\ud800", "a\x00b", "１２", "\u202e", "NaN", "Infinity", "x" * rng.randrange(1, 20_000)])
    if kind == 4:
        return rng.choice([None, True, False])
    if kind == 5:
        return rng.choice([[], {}, "1h"])
    if kind == 6:
        return _deep(rng.choice([3, 40, 63, 64, 65, 100, 400]))
    return {_nasty_name(rng): _nasty(rng, depth + 1)} if rng.random() < 0.5 else [_nasty(rng, depth + 1)]


def _nasty_name(rng: random.Random) -> str:
    return rng.choice(["", "$where", "a.b", "\x00", "k\x00", "\udc80", "n" * 300, "1h", "priceUsd", "dt", "extra"])


def _containers(value: Any) -> list[Any]:
    """`value` and every dict or list inside it, to pick one to mutate."""
    found, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            found.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    return found


def _mutate(record: Any, rng: random.Random, money: bool) -> None:
    """One to three changes inside a record (a dict): replace, delete or add a field at some depth."""
    for _ in range(rng.randint(1, 3)):
        if money and rng.random() < 0.4:
            record[rng.choice(MONEY_FIELDS)] = _decimal_text(rng)
            continue
        node = rng.choice(_containers(record))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = rng.randrange(3) if keys else 2
        if action == 0:
            node[rng.choice(keys)] = _nasty(rng)
        elif action == 1:
            del node[rng.choice(keys)]
        elif isinstance(node, dict):
            node[_nasty_name(rng)] = _nasty(rng)
        else:
            node.append(_nasty(rng))


def _siblings(items: list[dict], vary: Callable[[dict, int], None]) -> list[dict]:
    out = []
    for k in range(SIBLINGS):
        item = copy.deepcopy(items[k % len(items)])
        vary(item, k)
        out.append(item)
    return out


def _endpoints(n: int) -> list[tuple[str, str | None, Any, Callable[[Any, records.Envelope], Batch]]]:
    """(endpoint, list field, response, validation) of each API, with entity ids of case `n` alone."""
    assets = load_fixture("coincap_v3_assets.json")
    assets["data"] = _siblings(assets["data"], lambda a, k: a.update(id=f"{a['id']}-{n}-{k}"))
    history = load_fixture("coincap_v3_asset_history.json")
    history["data"] = _siblings(history["data"], lambda p, k: p.update(time=p["time"] + k * 180_000))
    air = load_fixture("openweather_air_pollution_history.json")
    air["list"] = _siblings(air["list"], lambda p, k: p.update(dt=p["dt"] + k * 10_800))
    return [
        ("/assets", "data", assets, records.coincap_assets),
        (
            "/assets/bitcoin/history",
            "data",
            history,
            lambda r, e: records.coincap_history(r, f"asset-{n}", e),
        ),
        ("/data/2.5/air_pollution/history", "list", air, lambda r, e: records.openweather_air(r, f"loc-{n}", e)),
        (
            "/data/2.5/air_pollution",
            "list",
            load_fixture("openweather_air_pollution.json"),
            lambda r, e: records.openweather_air(r, f"loc-{n}", e),
        ),
        (
            "/data/2.5/weather",
            None,
            load_fixture("openweather_current.json"),
            lambda r, e: records.openweather_weather(r, f"loc-{n}", e),
        ),
    ]


def fuzz_cases(seed: int, count: int) -> Iterator[Case]:
    rng = random.Random(seed)
    for n in range(count):
        endpoint, field, response, validate = rng.choice(_endpoints(n))
        if field is None:  # one record is the whole response
            _mutate(response, rng, money=False)
            yield Case(n, endpoint, response, validate, 1, [])
            continue
        if rng.random() < 0.1:  # the response's shape, or its timestamp, which only /assets reads
            if rng.random() < 0.5:
                response = rng.choice([_nasty(rng), {**response, field: _nasty(rng)}])
                yield Case(n, endpoint, response, validate, None, [])
            else:
                response["timestamp"] = _nasty(rng)
                reads_it = endpoint == "/assets"
                kept = [] if reads_it else copy.deepcopy(response[field])
                yield Case(n, endpoint, response, validate, None if reads_it else len(kept), kept)
            continue
        items = response[field]
        target = rng.randrange(len(items))
        untouched = copy.deepcopy(items[:target] + items[target + 1 :])
        _mutate(items[target], rng, money=endpoint == "/assets")
        yield Case(n, endpoint, response, validate, len(items), untouched)


def test_no_mutated_response_raises_or_costs_a_valid_record():
    reasons: Counter[str] = Counter()
    documents = 0
    for case in fuzz_cases(SEED, RESPONSES):
        batch = case.run()
        stored = [doc["payload"] for doc in batch.documents]
        context = f"case {case.number} ({case.endpoint})"
        if case.records is not None:
            assert len(batch.documents) + len(batch.dead_letters) == case.records, context
        for record in case.untouched:
            assert record in stored, f"{context}: a valid sibling of a bad record was lost"
        for doc in batch.documents:
            assert unstorable(doc["payload"]) is None and len(bson.encode(doc)) < MAX_DOCUMENT_BYTES, context
            if batch.collection == "coincap_assets":
                assert all(fits_money(doc["payload"][f]) for f in MONEY_FIELDS if doc["payload"].get(f) is not None)
        for letter in batch.dead_letters:
            assert len(bson.encode(letter)) < MAX_DOCUMENT_BYTES, context
            assert letter["reason"], context
            reasons.update(r.split(": ", 1)[1] for r in letter["reason"].split("; ") if ": " in r)
        documents += len(batch.documents)
    # The generator reaches every kind of garbage the issue met, and most records are still valid ones.
    for words in ("wider than 64 bits", "DECIMAL(38,18)", "the year 9999", "unpaired surrogate", "nested deeper"):
        assert any(words in reason for reason in reasons), f"no case produced {words!r}: {reasons.most_common(8)}"
    assert documents > RESPONSES * 2


# Where each API sends a number, in the records the producer types.
NUMBER_FIELDS = {
    "coincap_history": ("time",),
    "openweather_air": ("dt", "main.aqi"),
    "openweather_weather": (
        *("dt", "visibility", "coord.lat", "coord.lon", "wind.speed", "wind.deg", "wind.gust", "clouds.all"),
        *("main.temp", "main.feels_like", "main.temp_min", "main.temp_max", "main.pressure", "main.humidity"),
        *("rain.1h", "snow.1h"),
    ),
}


def _numbers_sent_as_numbers(collection: str, payload: dict) -> Iterator[tuple[str, Any]]:
    """The fields an API sends as numbers, in a stored payload, that it holds: (where, value)."""
    for where in NUMBER_FIELDS.get(collection, ()):
        node: Any = payload
        for name in where.split("."):
            node = node.get(name) if isinstance(node, dict) else None
        yield where, node
    if collection == "openweather_air":
        yield from ((f"components.{name}", value) for name, value in payload["components"].items())


def test_no_stored_record_holds_a_boolean_or_a_string_where_the_api_sends_a_number():
    """A lax number would take `true` for 1 and "2" for 2: the seeded fuzz stored such AQIs before."""
    checked = 0
    for case in fuzz_cases(SEED, RESPONSES):
        batch = case.run()
        for doc in batch.documents:
            for where, value in _numbers_sent_as_numbers(batch.collection, doc["payload"]):
                assert not isinstance(value, bool | str), f"case {case.number}: {where} stored as {value!r}"
                checked += value is not None
    assert checked > RESPONSES
