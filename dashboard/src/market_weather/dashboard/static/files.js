// Files: every file taken in, its status, counts and first errors.
"use strict";

(() => {
  function errors(list) {
    if (!list || !list.length) return "";
    const details = document.createElement("details"), summary = document.createElement("summary");
    summary.textContent = list.length === 1 ? list[0] : `${list[0]} (and ${list.length - 1} more)`;
    const pre = document.createElement("pre");
    pre.textContent = list.join("\n");
    details.append(summary, pre);
    return details;
  }

  function named(file) {
    const cell = document.createElement("div"), id = document.createElement("div");
    cell.textContent = file.name;
    id.className = "muted";
    id.textContent = file.id;
    cell.append(id);
    return cell;
  }

  async function refresh() {
    const taken = await Dash.api("files", { limit: 100 });
    const counts = Object.entries(taken.by_status).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`);
    document.getElementById("files-by-status").textContent = counts.length ? counts.join(", ") : "";
    Dash.rows("files", taken.files, (f) => [
      named(f), Dash.badge(f.status), f.format || "", f.via, Dash.time(f.received_at), [Dash.big(f.size), "num"],
      [Dash.num(f.counts.rows), "num"], [Dash.num(f.counts.valid), "num"], [Dash.num(f.counts.dead_lettered), "num"],
      [Dash.num(f.counts.duplicates), "num"], [Dash.num(f.counts.loaded), "num"], errors(f.errors),
    ], { key: (f) => f.id, empty: "no file taken in yet: upload one on the file intake's page, or drop one in its folder" });
  }

  Dash.every(refresh, []);
})();
