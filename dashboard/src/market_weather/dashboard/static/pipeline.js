// Pipeline: freshness now and over time, loads, lake counts, data-quality checks and dead letters.
"use strict";

(() => {
  Dash.state(["range"]);

  function payload(text) {
    const details = document.createElement("details"), summary = document.createElement("summary"), pre = document.createElement("pre");
    summary.textContent = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    pre.textContent = text;
    details.append(summary, pre);
    return details;
  }

  async function refresh() {
    const range = document.getElementById("range").value;
    Dash.remember({ range });
    const [fresh, runs, lake, quality, dead] = await Promise.all([
      Dash.api("pipeline/freshness", { range }),
      Dash.api("pipeline/runs", { limit: 50 }),
      Dash.api("pipeline/lake"),
      Dash.api("pipeline/quality"),
      Dash.api("pipeline/dead-letters", { range }),
    ]);

    Dash.waiting(fresh, ["coincap", "weather", "air"]);
    Dash.rows("freshness", fresh.sources, (s) => [s.source, s.table, [Dash.ago(s.lag_seconds), "num"], [Dash.ago(s.lake_lag_seconds), "num"], Dash.time(s.newest_observed_at)], { key: (s) => s.source });
    const checks = [...new Set(fresh.history.map((h) => h.check))];
    Dash.plot("freshness-history", {
      tooltip: Dash.tooltip, legend: { top: 0 }, grid: { left: 60, right: 20, top: 30, bottom: 30 },
      xAxis: Dash.axisBack(range), yAxis: { name: "minutes old", scale: true },
      series: checks.map((c) => Dash.line(c.replace("freshness_", ""), fresh.history.filter((h) => h.check === c).map((h) => [h.t, h.lag_minutes]))),
    }, "no freshness checks in this range yet (they run after every load)");

    Dash.rows("runs", runs, (r) => [
      r.run_id, Dash.badge(r.status), Dash.time(r.started_at), [Dash.ago(r.duration_s), "num"],
      [Dash.num(r.rows_read), "num"], [Dash.num(r.rows_written), "num"], [Dash.num(r.rows_rejected), "num"], r.message || "",
    ], { key: (r) => r.run_id, empty: "no loads yet" });
    const chronological = [...runs].reverse();
    Dash.plot("run-rows", {
      tooltip: Dash.tooltip, legend: { top: 0 }, grid: { left: 60, right: 20, top: 30, bottom: 30 },
      xAxis: { type: "category", data: chronological.map((r) => new Date(r.started_at).toLocaleTimeString()) }, yAxis: { name: "rows" },
      series: [["read", "rows_read"], ["written", "rows_written"], ["rejected", "rows_rejected"]].map(([name, field]) => ({
        name, type: "bar", data: chronological.map((r) => r[field]) })),
    }, "no loads yet");

    document.getElementById("lake-counted").textContent = lake.counted_at ? `counted ${Dash.time(lake.counted_at)}` : "";
    const counted = lake.counted_at ? lake.collections : [];
    Dash.plot("lake", {
      tooltip: { trigger: "axis" }, grid: { left: 140, right: 40, top: 10, bottom: 30 },
      xAxis: { type: "value" }, yAxis: { type: "category", data: counted.map((c) => c.collection) },
      series: [{ name: "documents", type: "bar", data: counted.map((c) => c.documents), label: { show: true, position: "right", formatter: (p) => Dash.big(p.value) } }],
    }, "counting the lake… (a large lake takes a minute, the first time after the dashboard starts)");

    Dash.rows("quality", quality, (q) => [q.check_name, Dash.badge(q.status), [Dash.num(q.observed), "num"], [Dash.num(q.threshold), "num"], q.detail, Dash.time(q.checked_at)],
      { key: (q) => q.check_name, empty: "the checks have not run yet (make check, or after a load in Airflow)" });

    const series = [...new Set(dead.buckets.map((b) => `${b.source}: ${b.reason}`))];
    Dash.plot("dead-letters", {
      tooltip: Dash.tooltip, legend: { type: "scroll", top: 0 }, grid: { left: 50, right: 20, top: 30, bottom: 30 },
      xAxis: Dash.axisBack(range), yAxis: { name: `per ${dead.bucket}`, minInterval: 1 },
      series: series.map((name) => ({ name, type: "bar", stack: "dead", barMaxWidth: 16, data: dead.buckets.filter((b) => `${b.source}: ${b.reason}` === name).map((b) => [b.t, b.count]) })),
    }, "no dead letters in this range");
    Dash.rows("dead-letters-newest", dead.newest, (d) => [Dash.time(d.fetched_at), d.source, d.endpoint, d.reason, payload(d.payload)], { empty: "no dead letters in this range" });
  }

  Dash.every(refresh, ["range"]);
})();
