// voxsep serve: upload a recording, show one row per talker (spectrogram, player, WAV download).
"use strict";
const $ = (id) => document.getElementById(id);
let chosen = null;   // the File to separate
let busy = false;
let limits = null;  // GET /api/models: max_upload_mb, max_seconds, job_timeout_s

function setStatus(html, isError) {
  const s = $("status");
  s.innerHTML = html;
  s.className = isError ? "error" : "";
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function b64ToBlob(b64, type) {
  const bytes = atob(b64);
  const array = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) array[i] = bytes.charCodeAt(i);
  return new Blob([array], {type});
}

async function loadModels() {
  const response = await fetch("/api/models");
  const info = await response.json();
  limits = info;
  for (const select of [$("model"), $("model2")]) {
    for (const m of info.models) {
      const option = document.createElement("option");
      option.value = m.index;
      option.textContent = `${m.name} (${m.sample_rate} Hz, up to ${m.n_src} talkers)`;
      select.appendChild(option);
    }
  }
  if (info.models.length > 1) $("model2").value = 1;
  $("limits").textContent = `Up to ${info.max_upload_mb} MB and ${info.max_seconds} s per file; ` +
    `each separation may take up to ${info.job_timeout_s} s.`;
}

// One upload: XMLHttpRequest for the upload progress. Resolves {status, body}.
function upload(file, modelIndex, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/separate?model=${modelIndex}&name=${encodeURIComponent(file.name)}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.upload.onload = () => onProgress(1);
    xhr.onload = () => {
      let body;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {error: `server answered ${xhr.status}`}; }
      resolve({status: xhr.status, body});
    };
    xhr.onerror = () => resolve({status: 0, body: {error: "the server cannot be reached; is voxsep serve running?"}});
    xhr.send(file);
  });
}

// A spectrogram with its frequency and time axes and a colour bar (dB below the mixture's peak).
function figure(title, pngB64, rate, seconds) {
  const khz = (hz) => (hz / 1000).toFixed(hz % 1000 ? 1 : 0) + " kHz";
  return `<figure class="spectrogram">
    <div class="yaxis"><span>${khz(rate / 2)}</span><span>${khz(rate / 4)}</span><span>0</span></div>
    <img alt="spectrogram of ${escapeHtml(title)}" src="data:image/png;base64,${pngB64}">
    <div class="colourbar" title="power relative to the mixture's peak"><span>0 dB</span><span>−40</span><span>−80 dB</span></div>
    <div class="xaxis"><span>0 s</span><span>${(seconds / 2).toFixed(2)} s</span><span>${seconds.toFixed(2)} s</span></div>
  </figure>`;
}

function row(title, pngB64, audioUrl, downloadName, cls, rate, seconds) {
  const div = document.createElement("div");
  div.className = `row ${cls}`;
  div.innerHTML = `<h3>${escapeHtml(title)}</h3>` + figure(title, pngB64, rate, seconds) +
    `<div class="controls"><audio controls preload="none" src="${audioUrl}"></audio>` +
    (downloadName ? `<a class="download" href="${audioUrl}" download="${escapeHtml(downloadName)}">download WAV</a>` : "") +
    `</div>`;
  return div;
}

function showResult(column, file, result) {
  column.innerHTML = "";
  const h = document.createElement("h2");
  h.textContent = result.model;
  column.appendChild(h);
  const p = document.createElement("p");
  p.className = "summary";
  p.innerHTML = `<span class="n-talkers">${result.n_talkers}</span> talker(s) found in ` +
    `${escapeHtml(result.file)} (${result.duration_s} s, ${result.sample_rate} Hz) — ` +
    `<span class="seconds">${result.seconds}</span> s with <span class="model">${escapeHtml(result.model)}</span>`;
  column.appendChild(p);
  column.appendChild(row("Mixture", result.mixture_spectrogram, URL.createObjectURL(file), null, "mixture",
    result.sample_rate, result.duration_s));
  result.talkers.forEach((t, i) => {
    const url = URL.createObjectURL(b64ToBlob(t.wav, "audio/wav"));
    column.appendChild(row(`Talker ${i + 1}`, t.spectrogram, url, t.name, "talker", result.sample_rate, result.duration_s));
  });
}

async function run() {
  if (!chosen || busy) return;
  busy = true;
  $("go").disabled = true;
  const indices = [$("model").value];
  if ($("compare-on").checked && $("model2").value !== $("model").value) indices.push($("model2").value);
  const results = $("results");
  results.innerHTML = "";
  const file = chosen;
  let failed = false;
  if (limits && file.size > limits.max_upload_mb * 1024 * 1024) {  // the server checks again
    setStatus(`<span class="message">${escapeHtml(file.name)} is ${(file.size / 1e6).toFixed(1)} MB; this server ` +
      `takes uploads up to ${limits.max_upload_mb} MB (voxsep serve --max-upload-mb)</span>`, true);
    busy = false;
    $("go").disabled = false;
    return;
  }
  for (const [n, index] of indices.entries()) {
    const column = document.createElement("div");
    column.className = "column";
    results.appendChild(column);
    const label = indices.length > 1 ? ` (model ${n + 1} of ${indices.length})` : "";
    const started = performance.now();
    let phase = "uploading";
    const tick = setInterval(() => {
      if (phase === "separating") setStatus(`<progress></progress> separating${label}… ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }, 500);
    const answer = await upload(file, index, (fraction) => {
      if (fraction >= 1) { phase = "separating"; setStatus(`<progress></progress> separating${label}…`); }
      else setStatus(`<progress value="${fraction}"></progress> uploading ${(100 * fraction).toFixed(0)}%${label}`);
    });
    clearInterval(tick);
    if (answer.status !== 200) {
      const retry = answer.status === 503 ? " (the server is busy: retry in a moment)" : "";
      setStatus(`<span class="message">${escapeHtml(answer.body.error || "failed")}</span>${retry}`, true);
      column.remove();
      failed = true;
      break;
    }
    showResult(column, file, answer.body);
  }
  if (!failed) setStatus(`<span class="done">done</span>`);
  busy = false;
  $("go").disabled = false;
}

function choose(file) {
  if (!file) return;
  chosen = file;
  $("go").disabled = false;
  setStatus(`${escapeHtml(file.name)} (${(file.size / 1e6).toFixed(2)} MB) ready`);
  run();
}

$("file").addEventListener("change", (e) => choose(e.target.files[0]));
$("go").addEventListener("click", run);
$("compare-on").addEventListener("change", (e) => { $("model2").disabled = !e.target.checked; });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); choose(e.dataTransfer.files[0]); });
loadModels();
