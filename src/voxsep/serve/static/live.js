// voxsep serve live mode: microphone -> AudioWorklet -> WebSocket -> StreamingSeparator -> level
// meters per talker and, when stopped, the separated recordings (and the captured input) as WAV.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const BLOCK_MS = 20;
  let session = null;
  const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

  function wav(samples, rate) {
    const buffer = new ArrayBuffer(44 + samples.length * 4);
    const v = new DataView(buffer);
    const text = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
    text(0, "RIFF"); v.setUint32(4, 36 + samples.length * 4, true); text(8, "WAVE"); text(12, "fmt ");
    v.setUint32(16, 16, true); v.setUint16(20, 3, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
    v.setUint32(28, rate * 4, true); v.setUint16(32, 4, true); v.setUint16(34, 32, true); text(36, "data");
    v.setUint32(40, samples.length * 4, true);
    new Float32Array(buffer, 44).set(samples);
    return new Blob([buffer], {type: "audio/wav"});
  }

  function concat(chunks) {
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const out = new Float32Array(total);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  }

  async function start() {
    const modelIndex = $("model").value;
    $("live-start").disabled = true;
    $("live-status").textContent = "connecting…";
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/live?model=${modelIndex}`);
    ws.binaryType = "arraybuffer";
    const s = {ws, input: [], outputs: [], pending: [], pendingLength: 0, info: null};
    session = s;
    ws.onmessage = async (event) => {
      if (typeof event.data === "string") {
        const msg = JSON.parse(event.data);
        if (msg.type === "error") { $("live-status").innerHTML = `<span class="live-error">${esc(msg.message)}</span>`; return; }
        s.info = msg;
        s.outputs = Array.from({length: msg.n_src}, () => []);
        $("live-talkers").innerHTML = s.outputs.map((_, k) =>
          `<div class="meter-row">Talker ${k + 1} <meter class="level" min="0" max="1" value="0"></meter></div>`).join("");
        $("live-status").innerHTML = `live with ${esc(msg.model)} at ${msg.sample_rate} Hz — latency ` +
          `<span class="latency">${msg.latency_ms}</span> ms (model) + ${BLOCK_MS} ms blocks`;
        try {
          s.context = new AudioContext({sampleRate: msg.sample_rate});
          await s.context.audioWorklet.addModule("/static/live-worklet.js");
          s.stream = await navigator.mediaDevices.getUserMedia({audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
          const source = s.context.createMediaStreamSource(s.stream);
          const node = new AudioWorkletNode(s.context, "voxsep-capture");
          const block = Math.round(msg.sample_rate * BLOCK_MS / 1000);
          node.port.onmessage = (e) => {
            if (session !== s) return;
            s.pending.push(e.data); s.pendingLength += e.data.length;
            if (s.pendingLength >= block) {
              const samples = concat(s.pending);
              s.pending = []; s.pendingLength = 0;
              s.input.push(samples);
              if (ws.readyState === WebSocket.OPEN) ws.send(samples.buffer);
            }
          };
          source.connect(node);
          $("live-stop").disabled = false;
        } catch (error) {
          $("live-status").innerHTML = `<span class="live-error">microphone: ${esc(error)}</span>`;
          ws.close();
        }
        return;
      }
      const all = new Float32Array(event.data);
      const n = all.length / s.outputs.length;
      const meters = document.querySelectorAll("#live-talkers meter");
      s.outputs.forEach((chunks, k) => {
        const part = all.slice(k * n, (k + 1) * n);
        chunks.push(part);
        let sum = 0;
        for (const x of part) sum += x * x;
        if (meters[k]) meters[k].value = Math.min(1, Math.sqrt(sum / Math.max(n, 1)) * 4);
      });
    };
    ws.onclose = () => { if (session === s) finish(s); };
  }

  function finish(s) {
    session = null;
    if (s.stream) s.stream.getTracks().forEach((t) => t.stop());
    if (s.context) s.context.close();
    $("live-start").disabled = false;
    $("live-stop").disabled = true;
    if (!s.info) return;
    const rate = s.info.sample_rate;
    const links = [`<a class="live-input" download="live_input.wav" href="${URL.createObjectURL(wav(concat(s.input), rate))}">captured input</a>`];
    s.outputs.forEach((chunks, k) => {
      links.push(`<a class="live-talker" download="live_spk${k + 1}.wav" href="${URL.createObjectURL(wav(concat(chunks), rate))}">talker ${k + 1}</a>`);
    });
    $("live-downloads").innerHTML = `Recordings (delayed by ${s.info.latency_ms} ms): ` + links.join(" · ");
    $("live-status").innerHTML += ` — <span class="live-done">stopped</span>`;
  }

  function stop() {
    const s = session;
    if (!s) return;
    if (s.context) s.context.suspend();
    // wait for the answers to the blocks already sent, then close
    const sent = s.input.length;
    const check = () => {
      if (s.outputs.length && s.outputs[0].length >= sent) { s.ws.send("stop"); }
      else setTimeout(check, 50);
    };
    check();
  }

  $("live-start").addEventListener("click", start);
  $("live-stop").addEventListener("click", stop);
})();
