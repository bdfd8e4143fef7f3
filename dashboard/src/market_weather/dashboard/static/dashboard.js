// What every page shares: the API client, charts, tables, formats, the URL's state and the refresh loop.
"use strict";

const Dash = (() => {
  const charts = new Map();

  async function api(path, params = {}) {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""));
    const response = await fetch(`/api/${path}${query.size ? "?" + query : ""}`, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || `${path}: HTTP ${response.status}`);
    return body;
  }

  function chart(id) {
    if (!charts.has(id)) charts.set(id, echarts.init(document.getElementById(id), null, { renderer: "canvas" }));
    return charts.get(id);
  }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

  // A chart's data, replacing what it showed; an empty series says so instead of showing blank axes.
  function plot(id, option, empty) {
    const c = chart(id);
    const points = (option.series || []).reduce((n, s) => n + (s.data ? s.data.length : 0), 0);
    c.setOption({
      animation: false,
      title: points ? { show: false } : { show: true, text: empty || "no data yet", left: "center", top: "middle", textStyle: { color: "#6b7785", fontSize: 13, fontWeight: "normal" } },
      ...option,
    }, { replaceMerge: ["series", "xAxis", "yAxis", "grid", "legend", "dataZoom"] });
  }

  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const money = (v) => v == null ? "–" : new Intl.NumberFormat(undefined, { maximumFractionDigits: v >= 100 ? 2 : 6 }).format(v);
  const num = (v, digits) => v == null ? "–" : (digits === undefined ? number.format(v) : Number(v).toFixed(digits));
  const big = (v) => v == null ? "–" : new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 }).format(v);
  const pct = (v) => v == null ? "–" : `${v > 0 ? "+" : ""}${v.toFixed(2)} %`;
  const time = (iso) => iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" }) : "–";
  function ago(seconds) {
    if (seconds == null) return "–";
    const s = Math.max(0, seconds);
    if (s < 120) return `${Math.round(s)} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} days`;
  }

  // Table rows from data: each cell is text, or [text, className], or a DOM node; never HTML from the data.
  function rows(tableId, items, cells, options = {}) {
    const body = document.querySelector(`#${tableId} tbody`);
    body.replaceChildren();
    if (!items.length) {
      const tr = body.insertRow(), td = tr.insertCell();
      td.colSpan = document.querySelectorAll(`#${tableId} thead th`).length;
      td.className = "empty";
      td.textContent = options.empty || "nothing yet";
      return;
    }
    for (const item of items) {
      const tr = body.insertRow();
      if (options.key) tr.dataset.key = options.key(item);
      if (options.onPick) { tr.classList.add("pick"); tr.addEventListener("click", () => options.onPick(item)); }
      if (options.chosen && options.chosen(item)) tr.classList.add("chosen");
      for (const cell of cells(item)) {
        const td = tr.insertCell();
        if (cell instanceof Node) td.append(cell);
        else if (Array.isArray(cell)) { td.textContent = cell[0]; td.className = cell[1]; }
        else td.textContent = cell;
      }
    }
  }

  // Before the first load of a source reaches the warehouse its charts are empty: the page's note says so
  // and when the first load is expected (the freshness answer's `waiting`); it is hidden once data arrives.
  function waiting(fresh, sources) {
    const note = document.getElementById("waiting");
    const said = fresh ? fresh.sources.filter((s) => sources.includes(s.source) && s.waiting).map((s) => s.waiting) : [];
    note.replaceChildren(...said.map((text) => Object.assign(document.createElement("p"), { textContent: text })));
    note.hidden = !said.length;
  }

  function badge(text) {
    const span = document.createElement("span");
    span.className = `badge ${text}`;
    span.textContent = text;
    return span;
  }

  function options(selectId, items, value, label) {
    const select = document.getElementById(selectId);
    const wanted = value || select.value;
    select.replaceChildren(...items.map(([v, text]) => new Option(text, v)));
    if (items.some(([v]) => v === wanted)) select.value = wanted;
    return select.value;
  }

  // The page's choices live in the URL, so a view can be bookmarked and survives a reload.
  function state(keys) {
    const params = new URLSearchParams(location.search);
    for (const key of keys) {
      const select = document.getElementById(key);
      if (params.get(key) && select && [...select.options].some((o) => o.value === params.get(key))) select.value = params.get(key);
    }
    return params;
  }
  // Choose as if from the select, so the page refreshes the one way a choice does.
  function choose(selectId, value) {
    const select = document.getElementById(selectId);
    select.value = value;
    select.dispatchEvent(new Event("change"));
  }
  function remember(values) {
    const params = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(values)) if (v) params.set(k, v);
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }

  // Run `refresh` now, again every few seconds, and at once when a choice changes; say when it last worked.
  function every(refresh, controls = []) {
    const seconds = Number(document.body.dataset.refreshSeconds) || 10;
    const updated = document.getElementById("updated"), problem = document.getElementById("problem");
    let running = null, again = false;
    // A choice made while a refresh is on its way is not lost: one more refresh follows with it.
    async function tick() {
      if (running) { again = true; return running; }
      running = (async () => {
        do {
          again = false;
          try {
            await refresh();
            updated.textContent = `updated ${new Date().toLocaleTimeString()} · every ${seconds} s`;
            document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
            problem.hidden = true;
          } catch (error) {
            problem.textContent = `Could not refresh: ${error.message}`;
            problem.hidden = false;
          }
        } while (again);
        running = null;
      })();
      return running;
    }
    for (const id of controls) document.getElementById(id).addEventListener("change", tick);
    tick();
    setInterval(tick, seconds * 1000);
    return tick;
  }

  // A line over time; its points are marked while they are few enough to tell apart (one alone shows).
  const line = (name, data, extra = {}) => ({ name, type: "line", data, showSymbol: data.length <= 60, symbolSize: 5, ...extra });
  const axisTime = { type: "time", axisLabel: { hideOverlap: true } };
  // A time axis spanning the chosen range back from the newest point, so a sparse series keeps its scale.
  const RANGE_MS = { "1h": 36e5, "6h": 6 * 36e5, "24h": 24 * 36e5, "7d": 7 * 864e5, "30d": 30 * 864e5, "1y": 365 * 864e5 };
  function axisSpan(range, times) {
    if (!RANGE_MS[range] || !times.length) return axisTime;
    const newest = Math.max(...times.map((t) => Date.parse(t)));
    return { ...axisTime, min: newest - RANGE_MS[range], max: newest };
  }
  const tooltip = { trigger: "axis", confine: true };
  // A time axis spanning the chosen range back from now (freshness and dead letters are counted from now).
  function axisBack(range) {
    return RANGE_MS[range] ? { ...axisTime, min: Date.now() - RANGE_MS[range], max: Date.now() } : axisTime;
  }
  return { api, chart, plot, rows, waiting, badge, options, state, choose, remember, every, money, num, big, pct, time, ago, line, axisTime, axisSpan, axisBack, tooltip };
})();
