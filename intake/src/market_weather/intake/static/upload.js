// The upload page: a file from the picker or dropped, sent with its progress shown, then the answer as the API
// gives it, followed until the file is loaded (or rejected, or failed).
"use strict";

const FOLLOW_MS = 2000;
const FINAL = new Set(["loaded", "rejected", "failed"]);

function bytes(n) {
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

document.addEventListener("DOMContentLoaded", () => {
  const limit = Number(document.body.dataset.limit);
  const form = document.getElementById("upload");
  const input = document.getElementById("file");
  const drop = document.getElementById("drop");
  const send = document.getElementById("send");
  const progress = document.getElementById("progress");
  const progressText = document.getElementById("progress-text");
  let file = null;
  let following = null;
  document.getElementById("limit-text").textContent = bytes(limit);

  function choose(picked) {
    file = picked || null;
    document.getElementById("chosen").textContent = file ? `${file.name} (${bytes(file.size)})` : "";
    send.disabled = !file;
  }

  function show(status, http, body) {
    document.getElementById("answer-panel").hidden = false;
    const badge = document.getElementById("status");
    badge.textContent = status;
    badge.className = `badge ${status}`;
    document.getElementById("http").textContent = http ? `HTTP ${http}` : "";
    document.getElementById("message").textContent = body.message || "";
    document.getElementById("answer").textContent = JSON.stringify(body, null, 2);
  }

  async function follow(id) {
    clearTimeout(following);
    const answer = await fetch(`/api/files/${encodeURIComponent(id)}`, { credentials: "same-origin" });
    const body = await answer.json();
    show(answer.ok ? body.status : "refused", answer.status, body);
    if (answer.ok && !FINAL.has(body.status)) following = setTimeout(() => follow(id), FOLLOW_MS);
  }

  input.addEventListener("change", () => choose(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (event) => choose(event.dataTransfer.files[0]));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!file) return;
    clearTimeout(following);
    if (file.size > limit) {
      show("refused", 413, { message: `the file is larger than FILE_MAX_BYTES (${limit.toLocaleString("en")} bytes)` });
      return;
    }
    const data = new FormData();
    for (const name of ["asset", "location"]) {
      const value = document.getElementById(name).value;
      if (value) data.append(name, value);
    }
    data.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", "/api/files");
    request.responseType = "json";
    progress.hidden = false;
    progress.value = 0;
    send.disabled = true;
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      progress.value = (100 * e.loaded) / e.total;
      progressText.textContent = `${bytes(e.loaded)} of ${bytes(e.total)} sent`;
    });
    request.upload.addEventListener("load", () => { progressText.textContent = "sent; reading it whole…"; });
    request.addEventListener("load", () => {
      send.disabled = false;
      const body = request.response || { message: `HTTP ${request.status}` };
      const ok = request.status === 200 || request.status === 202;
      progressText.textContent = ok ? "" : "refused";
      show(ok ? body.status : "refused", request.status, body);
      if (ok && !FINAL.has(body.status)) following = setTimeout(() => follow(body.id), FOLLOW_MS);
    });
    request.addEventListener("error", () => {
      send.disabled = false;
      show("refused", 0, { message: "the upload broke off: the intake service closed the connection" });
    });
    request.send(data);
  });
});
