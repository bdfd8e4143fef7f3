// Markets: one asset's candles at the chosen interval and range, points per candle beneath, latest prices.
"use strict";

(() => {
  Dash.state(["interval", "range"]);
  let asset = new URLSearchParams(location.search).get("asset");

  async function refresh() {
    const prices = await Dash.api("markets/prices");
    Dash.waiting(prices.length ? null : await Dash.api("pipeline/freshness", { range: "1h" }), ["coincap"]);
    asset = Dash.options("asset", prices.map((p) => [p.asset_id, `${p.symbol || p.asset_id} · ${p.name || ""}`]), asset);
    Dash.rows("prices", prices, (p) => [
      p.symbol || p.asset_id,
      p.name || "–",
      [Dash.money(p.price_usd), "num"],
      [Dash.pct(p.change_24h_pct), `num ${p.change_24h_pct > 0 ? "up" : p.change_24h_pct < 0 ? "down" : ""}`],
      [Dash.pct(p.api_change_24h_pct), "num muted"],
      [Dash.big(p.market_cap_usd), "num"],
      Dash.time(p.observed_at),
    ], { key: (p) => p.asset_id, onPick: (p) => Dash.choose("asset", p.asset_id),
         chosen: (p) => p.asset_id === asset, empty: "no prices loaded yet" });
    if (!asset) { Dash.plot("candles", { series: [] }, "no prices loaded yet"); return; }

    const interval = document.getElementById("interval").value, range = document.getElementById("range").value;
    Dash.remember({ asset, interval, range });
    const data = await Dash.api("markets/candles", { asset, interval, range });
    const chosen = prices.find((p) => p.asset_id === asset);
    document.getElementById("candles-title").textContent = `${chosen ? chosen.symbol || asset : asset}: ${interval} candles`;
    document.getElementById("candle-note").textContent = data.truncated ? `showing the newest ${data.candles.length} candles of the range` : "";
    Dash.plot("candles", {
      tooltip: { ...Dash.tooltip, axisPointer: { type: "cross" } },
      axisPointer: { link: [{ xAxisIndex: "all" }] },
      grid: [{ left: 70, right: 30, top: 20, height: "62%" }, { left: 70, right: 30, top: "76%", height: "14%" }],
      xAxis: [{ ...Dash.axisTime, gridIndex: 0 }, { ...Dash.axisTime, gridIndex: 1, axisLabel: { show: false } }],
      yAxis: [{ scale: true, gridIndex: 0, name: "USD" }, { gridIndex: 1, name: "points", splitNumber: 2 }],
      dataZoom: [{ type: "inside", xAxisIndex: [0, 1] }],
      series: [
        { name: "price", type: "candlestick", xAxisIndex: 0, yAxisIndex: 0,
          itemStyle: { color: "#1a7f37", color0: "#cf222e", borderColor: "#1a7f37", borderColor0: "#cf222e" },
          data: data.candles.map((c) => [c.t, c.open, c.close, c.low, c.high]) },
        { name: "points", type: "bar", xAxisIndex: 1, yAxisIndex: 1, itemStyle: { color: "#8da9c4" },
          data: data.candles.map((c) => [c.t, c.points]) },
      ],
    }, `no ${interval} candles for ${asset} yet`);
  }

  document.getElementById("asset").addEventListener("change", (e) => { asset = e.target.value; });
  Dash.every(refresh, ["asset", "interval", "range"]);
})();
