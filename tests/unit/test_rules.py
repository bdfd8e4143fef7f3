"""Every plausibility rule on its own: a record that breaks only that rule is rejected with that rule's
reason, a record on the rule's edge is kept, and a clean record of each collection passes them all."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal

import pytest

from market_weather.contract import (
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    COINGECKO_HISTORY,
    OPEN_METEO_WEATHER,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
)
from market_weather.job import rules, schemas, transforms
from tests.unit.test_transforms import (
    F0,
    T0,
    air_doc,
    asset_doc,
    coingecko_doc,
    history_doc,
    open_meteo_doc,
    raw,
    weather_doc,
)

SCHEMAS = {
    COINCAP_ASSETS: schemas.COINCAP_ASSETS,
    COINCAP_HISTORY: schemas.COINCAP_HISTORY,
    OPENWEATHER_WEATHER: schemas.OPENWEATHER_WEATHER,
    OPENWEATHER_AIR: schemas.OPENWEATHER_AIR,
    COINGECKO_HISTORY: schemas.COINGECKO_HISTORY,
    OPEN_METEO_WEATHER: schemas.OPEN_METEO_WEATHER,
}
ROWS = {
    COINCAP_ASSETS: transforms.coincap_asset_rows,
    COINCAP_HISTORY: transforms.coincap_history_rows,
    OPENWEATHER_WEATHER: transforms.weather_rows,
    OPENWEATHER_AIR: transforms.air_rows,
    COINGECKO_HISTORY: transforms.coingecko_rows,
    OPEN_METEO_WEATHER: transforms.open_meteo_rows,
}
# A clean document of each collection, with every field a rule looks at filled.
CLEAN = {
    COINCAP_ASSETS: asset_doc("clean", "bitcoin", T0, F0, maxSupply="21000000", vwap24Hr="99.5", explorer="x"),
    COINCAP_HISTORY: history_doc("clean", "bitcoin", T0, F0, "101"),
    OPENWEATHER_WEATHER: weather_doc("clean", T0, F0, wind={"speed": 4.1, "deg": 230.0, "gust": 7.2}, snow={"1h": 0.1}),
    OPENWEATHER_AIR: air_doc("clean", T0, F0, 2.0),
    COINGECKO_HISTORY: coingecko_doc("clean", "bitcoin", T0, F0, "101", market_cap="2000", total_volume="30"),
    OPEN_METEO_WEATHER: open_meteo_doc("clean", T0, F0),
}
ENVELOPE_FIELDS = {"entity_id": 3, "observed_at": 4, "fetched_at": 5}


def with_value(doc: tuple, field: str, value) -> tuple:
    """`doc` with `field` (a rule's field: `entity_id`, or `payload.a.b`, `payload.weather[0].main`) set."""
    if field in ENVELOPE_FIELDS:
        out = list(doc)
        out[ENVELOPE_FIELDS[field]] = value
        return tuple(out)
    payload = copy.deepcopy(doc[8])  # `payload`, or an Open-Meteo row's `values`
    *parents, last = field.removeprefix("payload.").removeprefix("values.").replace("[0]", ".0").split(".")
    node = payload
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return (*doc[:8], payload, *doc[9:])


def typed(collection: str, value):
    """A bound as the raw schema holds it: CoinCap numbers are decimal strings."""
    return str(value) if collection.startswith("coin") else float(value)


def cases() -> list[tuple[str, str, tuple, bool, str]]:
    """(collection, case id, document, whether it is kept, the reason expected when it is not)."""
    out = []
    for collection, table in rules.RULES.items():
        clean = CLEAN[collection]
        for rule in table:
            if rule.no_nul:
                out.append(
                    (collection, f"{rule.field}-nul", with_value(clean, rule.field, "a\u0000b"), False, rule.reason)
                )
                out.append((collection, f"{rule.field}-text", with_value(clean, rule.field, "a b"), True, ""))
                continue
            if rule.low is not None:
                step = 1
                below = rule.low if rule.low_open else Decimal(str(rule.low)) - step
                out.append(
                    (
                        collection,
                        f"{rule.column}-low",
                        with_value(clean, rule.field, typed(collection, below)),
                        False,
                        rule.reason,
                    )
                )
                edge = Decimal(str(rule.low)) + (step if rule.low_open else 0)
                out.append(
                    (
                        collection,
                        f"{rule.column}-low-edge",
                        with_value(clean, rule.field, typed(collection, edge)),
                        True,
                        "",
                    )
                )
            if rule.high is not None:
                above = Decimal(str(rule.high)) + 1
                out.append(
                    (
                        collection,
                        f"{rule.column}-high",
                        with_value(clean, rule.field, typed(collection, above)),
                        False,
                        rule.reason,
                    )
                )
                out.append(
                    (
                        collection,
                        f"{rule.column}-high-edge",
                        with_value(clean, rule.field, typed(collection, rule.high)),
                        True,
                        "",
                    )
                )
        observed = rules.OBSERVED_AT[collection]
        early, late = observed.too_early, observed.too_late
        ahead = timedelta(minutes=rules.OBSERVED_AFTER_FETCH_MAX_MINUTES)
        first = observed.earliest.replace(tzinfo=None)
        out += [
            (
                collection,
                "observed-before-source",
                with_value(clean, "observed_at", first - timedelta(seconds=1)),
                False,
                early,
            ),
            (collection, "observed-at-source-start", with_value(clean, "observed_at", first), True, ""),
            (collection, "observed-far-future", with_value(clean, "observed_at", T0.replace(year=9999)), False, late),
            (
                collection,
                "observed-after-fetch",
                with_value(clean, "observed_at", F0 + ahead + timedelta(seconds=1)),
                False,
                late,
            ),
            (collection, "observed-just-after-fetch", with_value(clean, "observed_at", F0 + ahead), True, ""),
            (collection, "clean", clean, True, ""),
        ]
    return out


CASES = cases()


@pytest.fixture(scope="module")
def reasons(spark) -> dict[tuple[str, str], str | None]:
    """Every case through its collection's typing and rules, in one Spark job per collection."""
    out = {}
    for collection in rules.RULES:
        mine = [(case, doc) for c, case, doc, _, _ in CASES if c == collection]
        docs = [(case, *doc[1:]) for case, doc in mine]
        for row in ROWS[collection](raw(spark, SCHEMAS[collection], docs)).collect():
            out[(collection, row["_id"])] = row["reason"]
    return out


@pytest.mark.parametrize(
    "collection, case, kept, reason",
    [(c, case, kept, reason) for c, case, _, kept, reason in CASES],
    ids=lambda v: v if isinstance(v, str) and v and len(v) < 60 else None,
)
def test_each_rule_refuses_what_breaks_it_and_keeps_its_edge(reasons, collection, case, kept, reason):
    assert reasons[(collection, case)] == (None if kept else reason)


def test_every_rule_names_its_field_and_a_rule():
    for table in rules.RULES.values():
        for rule in table:
            field, rest = rule.reason.split(": ", 1)
            assert field == rule.field and rest.startswith(rule.name + " (")
    assert len({(c, case) for c, case, *_ in CASES}) == len(CASES)
