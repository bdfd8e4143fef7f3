"""CoinCap API v3 client: the live source of `/assets` snapshots and price history."""

from __future__ import annotations

from typing import Any

from market_weather.api_limits import COINCAP_INTERVALS_MS, COINCAP_MAX_WINDOW_MS
from market_weather.producer.http import JsonApi


class CoinCapClient(JsonApi):
    """`Authorization: Bearer <key>`; usage is metered in credits, so only configured assets are asked for."""

    name = "coincap"

    def _auth(self, params: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
        return {"Authorization": f"Bearer {self._key}"}, params

    def assets(self, ids: list[str]) -> Any:
        return self.get("/assets", {"ids": ",".join(ids)})

    def history(self, asset_id: str, interval: str, start_ms: int, end_ms: int) -> Any:
        if interval not in COINCAP_INTERVALS_MS:
            raise ValueError(f"interval must be one of {', '.join(COINCAP_INTERVALS_MS)}, not {interval!r}")
        if end_ms - start_ms > COINCAP_MAX_WINDOW_MS[interval]:
            raise ValueError(f"a {interval} history request covers at most {COINCAP_MAX_WINDOW_MS[interval]} ms")
        return self.get(f"/assets/{asset_id}/history", {"interval": interval, "start": start_ms, "end": end_ms})
