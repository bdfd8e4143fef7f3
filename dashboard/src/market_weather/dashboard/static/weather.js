// Weather and air: one location's temperature, humidity, wind, AQI and pollutants over time; every location now.
"use strict";

(() => {
  Dash.state(["range"]);
  let place = new URLSearchParams(location.search).get("location");
  const line = (name, rows, field, extra = {}) => Dash.line(name, rows.map((r) => [r.t, r[field]]), extra);
  let xAxis = Dash.axisTime;
  const base = (name) => ({ tooltip: Dash.tooltip, grid: { left: 50, right: 20, top: 30, bottom: 30 }, xAxis, yAxis: { scale: true, name } });

  async function refresh() {
    const places = await Dash.api("weather/locations");
    const observed = places.length && places.every((p) => p.weather_at && p.air_at);
    Dash.waiting(observed ? null : await Dash.api("pipeline/freshness", { range: "1h" }), ["weather", "air"]);
    place = Dash.options("location", places.map((p) => [p.location_id, p.name]), place);
    Dash.rows("locations", places, (p) => [
      p.name, p.country || "–", [Dash.num(p.temp_c, 1), "num"], [Dash.num(p.humidity_pct, 0), "num"],
      p.description || p.condition || "–", [p.aqi == null ? "–" : String(p.aqi), "num"], Dash.time(p.weather_at),
    ], { key: (p) => p.location_id, onPick: (p) => Dash.choose("location", p.location_id),
         chosen: (p) => p.location_id === place, empty: "no locations loaded yet" });
    if (!place) { for (const id of ["temperature", "humidity", "wind", "aqi", "pollutants"]) Dash.plot(id, { series: [] }); return; }

    const range = document.getElementById("range").value;
    Dash.remember({ location: place, range });
    const [weather, air] = await Promise.all([
      Dash.api("weather/observations", { location: place, range }),
      Dash.api("air/observations", { location: place, range }),
    ]);
    const w = weather.observations, a = air.observations;
    xAxis = Dash.axisSpan(range, [...w, ...a].map((r) => r.t));
    Dash.plot("temperature", { ...base("°C"), legend: { top: 0 }, series: [line("temperature", w, "temp_c"), line("feels like", w, "feels_like_c", { lineStyle: { type: "dashed" } })] });
    Dash.plot("humidity", { ...base("%"), series: [line("humidity", w, "humidity_pct", { areaStyle: { opacity: 0.15 } })] });
    Dash.plot("wind", { ...base("m/s"), legend: { top: 0 }, series: [line("speed", w, "wind_speed_ms"), line("gusts", w, "wind_gust_ms", { lineStyle: { type: "dotted" } })] });
    Dash.plot("aqi", { ...base("AQI"), yAxis: { min: 1, max: 5, interval: 1, name: "AQI" },
      visualMap: { show: false, dimension: 1, pieces: [{ lte: 1, color: "#1a7f37" }, { gt: 1, lte: 2, color: "#7cb342" }, { gt: 2, lte: 3, color: "#f9a825" }, { gt: 3, lte: 4, color: "#ef6c00" }, { gt: 4, color: "#cf222e" }] },
      series: [line("AQI", a, "aqi", { step: "end" })] }, "no air quality yet");
    const pollutants = ["pm2_5", "pm10", "no2", "o3", "so2", "co", "no", "nh3"];
    Dash.plot("pollutants", { ...base("µg/m³"), legend: { top: 0 }, yAxis: { type: "log", name: "µg/m³ (log)" },
      series: pollutants.map((p) => line(p.replace("_", "."), a.filter((r) => r[p] > 0), p)) }, "no air quality yet");
  }

  document.getElementById("location").addEventListener("change", (e) => { place = e.target.value; });
  Dash.every(refresh, ["location", "range"]);
})();
