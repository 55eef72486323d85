// voxsep serve --results: sortable per-mixture table, players and labelled spectrograms of saved estimates.
"use strict";
const $ = (id) => document.getElementById(id);
let sets = [];
let current = null;
let sortKey = null;
let ascending = true;

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function value(row, key) {
  const v = parseFloat(row[key]);
  return Number.isNaN(v) ? (row[key] === "" || row[key] === undefined ? Infinity : row[key]) : v;
}

function render() {
  const set = current;
  const order = set.rows.map((row, i) => i);
  if (sortKey) {
    order.sort((a, b) => {
      const x = value(set.rows[a], sortKey), y = value(set.rows[b], sortKey);
      const cmp = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? cmp : -cmp;
    });
  }
  $("table").querySelector("thead").innerHTML = "<tr>" + set.columns.map((c) =>
    `<th data-key="${esc(c)}" class="${c === sortKey ? (ascending ? "asc" : "desc") : ""}">${esc(c)}</th>`).join("") +
    "<th>audio</th></tr>";
  $("table").querySelector("tbody").innerHTML = order.map((i) => {
    const row = set.rows[i];
    const audio = set.audio[String(i)];
    return `<tr data-row="${i}">` + set.columns.map((c) => `<td>${esc(row[c] ?? "")}</td>`).join("") +
      `<td>${audio ? `<button class="listen" data-row="${i}">${audio.outputs} estimates</button>` : ""}</td></tr>`;
  }).join("");
  for (const th of $("table").querySelectorAll("th[data-key]")) {
    th.addEventListener("click", () => {
      if (sortKey === th.dataset.key) ascending = !ascending; else { sortKey = th.dataset.key; ascending = true; }
      render();
    });
  }
  for (const button of $("table").querySelectorAll("button.listen")) {
    button.addEventListener("click", () => showDetail(parseInt(button.dataset.row, 10)));
  }
}

function labelledSpectrogram(src, rate, seconds) {
  const khz = (hz) => (hz / 1000).toFixed(hz % 1000 ? 1 : 0) + " kHz";
  return `<figure class="spectrogram">
    <div class="yaxis"><span>${khz(rate / 2)}</span><span>${khz(rate / 4)}</span><span>0</span></div>
    <img src="${src}" alt="spectrogram">
    <div class="colourbar" title="power relative to the image's peak"><span>0 dB</span><span>−40</span><span>−80 dB</span></div>
    <div class="xaxis"><span>0 s</span><span>${(seconds / 2).toFixed(2)} s</span><span>${seconds.toFixed(2)} s</span></div>
    <figcaption>frequency (kHz) against time (s); colour: power in dB below the peak</figcaption>
  </figure>`;
}

function showDetail(row) {
  const audio = current.audio[String(row)];
  const id = current.rows[row].mixture_id;
  let html = `<h2>${esc(id)}</h2>`;
  for (let k = 1; k <= audio.outputs; k++) {
    const base = `/api/results/${current.index}/${row}/${k}`;
    // a static report (voxsep.serve.report) carries the files inline as data: URLs
    const files = audio.files ? audio.files[k - 1] : {wav: base + ".wav", png: base + ".png"};
    html += `<div class="row estimate"><h3>Estimate ${k}</h3>${labelledSpectrogram(files.png, audio.sample_rate, audio.duration_s)}` +
      `<div class="controls"><audio controls preload="none" src="${files.wav}"></audio>` +
      `<a class="download" href="${files.wav}" download="${esc(id)}_s${k}.wav">download WAV</a></div></div>`;
  }
  $("detail").innerHTML = html;
}

function choose(index) {
  current = sets[index];
  sortKey = current.sort;
  ascending = true;  // worst first
  const s = current.summary;
  const parts = [];
  for (const [key, v] of Object.entries(s.summary || {})) {
    if (v && typeof v === "object" && "mean" in v) parts.push(`${esc(key)} mean ${Number(v.mean).toFixed(2)}`);
  }
  $("summary").innerHTML = `${current.rows.length} mixtures` + (s.model ? ` — model ${esc(s.model)}` : "") +
    (parts.length ? ` — ${parts.join(", ")}` : "");
  $("detail").innerHTML = "";
  render();
}

async function load() {
  if (window.VOXSEP_RESULTS) sets = window.VOXSEP_RESULTS.sets;  // a static report
  else sets = (await (await fetch("/api/results")).json()).sets;
  for (const set of sets) {
    const option = document.createElement("option");
    option.value = set.index;
    option.textContent = set.name;
    $("set").appendChild(option);
  }
  $("set").addEventListener("change", (e) => choose(parseInt(e.target.value, 10)));
  if (sets.length) choose(0);
}
load();
