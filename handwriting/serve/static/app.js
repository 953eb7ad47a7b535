// The page of `handwriting serve`: write text (streamed progress, SVG/PNG download, attention),
// read a drawing (pointer events with timing) or a scan, and make a style of your own hand.
"use strict";

const $ = (id) => document.getElementById(id);
const SAVED_STYLES = "handwriting.styles";  // localStorage: [{name, style}] made on this page
let info = null;
let lastPage = null;

async function fail(response) {
  let message = `${response.status} ${response.statusText}`;
  try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
  throw new Error(message);
}

async function postJSON(url, body) {
  const response = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)});
  if (!response.ok) await fail(response);
  return response;
}

function savedStyles() {
  try { return JSON.parse(localStorage.getItem(SAVED_STYLES) || "[]"); } catch (e) { return []; }
}

function fillStyles(select) {
  const chosen = select || $("style").value;
  const options = [["", "the network's own"]];
  for (const name of info.styles) options.push(["shipped:" + name, name]);
  savedStyles().forEach((s, i) => options.push(["saved:" + i, s.name]));
  $("style").replaceChildren(...options.map(([value, label]) => {
    const o = document.createElement("option");
    o.value = value; o.textContent = label; return o;
  }));
  if ([...$("style").options].some((o) => o.value === chosen)) $("style").value = chosen;
}

function addSavedStyle(name, style) {
  const styles = savedStyles();
  styles.push({name, style});
  localStorage.setItem(SAVED_STYLES, JSON.stringify(styles));
  fillStyles("saved:" + (styles.length - 1));
}

function styleRequest() {
  const v = $("style").value;
  if (v.startsWith("shipped:")) return {style: v.slice(8)};
  if (v.startsWith("saved:")) return {style_data: savedStyles()[Number(v.slice(6))].style};
  return {};
}

// -- write ------------------------------------------------------------------------------------

async function write() {
  $("write-error").textContent = "";
  $("write-note").textContent = "";
  $("write").disabled = true;
  const progress = $("write-progress");
  progress.hidden = false;
  setProgress(0, 1);
  try {
    const body = {text: $("text").value, bias: Number($("bias").value),
                  seed: Number($("seed").value) || 0, attention: $("show-attention").checked,
                  ...styleRequest()};
    const response = await postJSON("/api/write", body);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const event = JSON.parse(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        if (event.type === "progress") setProgress(event.done, event.total);
        if (event.type === "page") showPage(event);
      }
    }
  } catch (e) {
    $("write-error").textContent = e.message;
  } finally {
    $("write").disabled = false;
    progress.hidden = true;
  }
}

function setProgress(done, total) {
  const bar = $("write-progress").querySelector(".bar");
  bar.style.width = `${Math.round(60 * done / Math.max(total, 1))}%`;
  $("write-progress").querySelector("span").textContent =
    done < total ? `writing line ${done + 1} of ${total}` : `${total} of ${total} lines written`;
}

function showPage(page) {
  lastPage = page;
  $("output").innerHTML = page.svg;
  const blob = new Blob([page.svg], {type: "image/svg+xml"});
  const svgLink = $("download-svg");
  if (svgLink.href) URL.revokeObjectURL(svgLink.href);
  svgLink.href = URL.createObjectURL(blob);
  svgLink.hidden = false;
  $("download-png").hidden = false;
  // A line whose window stalled in every try (the server's retries) ends before its text does.
  const stalled = page.lines.map((line, i) => [line, i + 1]).filter(([line]) => !line.finished);
  $("write-note").textContent = stalled.length === 0 ? "" :
    stalled.map(([line, n]) => `Line ${n} ("${line.text}")`).join(", ") +
    ` did not reach the end of its text: try another seed or a lower bias.`;
  drawAttention(page);
}

function pngFromSvg() {
  if (!lastPage) return;
  const img = new Image();
  img.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth * 2; canvas.height = img.naturalHeight * 2;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "white"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((png) => {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(png); a.download = "handwriting.png"; a.click();
    });
  };
  img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(lastPage.svg);
}

function drawAttention(page) {
  const canvas = $("attention");
  const line = page.lines[0];
  if (!$("show-attention").checked || !line || !line.attention) { canvas.hidden = true; return; }
  canvas.hidden = false;
  const phi = line.attention, T = phi.length, U = phi[0].length;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "white"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  let max = 1e-9;
  for (const row of phi) for (const v of row) max = Math.max(max, v);
  const w = canvas.width / T, h = (canvas.height - 20) / U;
  for (let t = 0; t < T; t++) {
    for (let u = 0; u < U; u++) {
      const v = phi[t][u] / max;
      ctx.fillStyle = `rgba(30, 60, 160, ${v.toFixed(3)})`;
      ctx.fillRect(t * w, u * h, Math.ceil(w), Math.ceil(h));
    }
  }
  ctx.fillStyle = "#333"; ctx.font = "12px sans-serif";
  ctx.fillText(`window weights over "${line.text}" (rows: characters, columns: pen steps)`,
               4, canvas.height - 5);
}

// -- the drawing pad ----------------------------------------------------------------------------

const strokes = [];  // [[x, y, t], ...] per stroke, CSS pixels, t in ms
let current = null;

function padPoint(event) {
  const pad = $("pad"), box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height, event.timeStamp];
}

function redraw() {
  const pad = $("pad"), ctx = pad.getContext("2d");
  ctx.clearRect(0, 0, pad.width, pad.height);
  ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#111";
  for (const s of strokes) {
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    for (const p of s) ctx.lineTo(p[0], p[1]);
    if (s.length === 1) ctx.lineTo(s[0][0] + 0.1, s[0][1]);
    ctx.stroke();
  }
}

function setupPad() {
  const pad = $("pad");
  pad.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    current = [padPoint(e)];
    strokes.push(current);
    redraw();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!current) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const c of (events.length ? events : [e])) current.push(padPoint(c));
    redraw();
  });
  const end = () => { current = null; };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", () => { strokes.length = 0; redraw(); });
}

async function readDrawing() {
  $("read-error").textContent = "";
  $("transcription").textContent = "…";
  try {
    if (!strokes.length) throw new Error("draw something first");
    const response = await postJSON("/api/read/strokes", {
      strokes, beam: Number($("beam").value) || 1, lm: $("use-lm").checked});
    $("transcription").textContent = (await response.json()).text || "(nothing read)";
  } catch (e) {
    $("transcription").textContent = "";
    $("read-error").textContent = e.message;
  }
}

async function makeStyle() {
  $("style-error").textContent = "";
  try {
    const text = $("style-text").value.trim();
    if (!strokes.length) throw new Error("write a line in the box above first");
    if (!text) throw new Error("type what you wrote");
    const response = await postJSON("/api/style", {text, strokes});
    const style = (await response.json()).style;
    addSavedStyle(`my hand: ${text.slice(0, 24)}`, style);
    const link = $("download-style");
    link.href = URL.createObjectURL(new Blob([JSON.stringify(style)], {type: "application/json"}));
    link.hidden = false;
    $("style-status").textContent = `Style made from "${text}": it is now selected above.`;
  } catch (e) {
    $("style-error").textContent = e.message;
  }
}

async function loadStyleFile(event) {
  $("style-error").textContent = "";
  const file = event.target.files[0];
  if (!file) return;
  try {
    const style = JSON.parse(await file.text());
    if (style.format !== "handwriting-style") throw new Error(`${file.name} is not a style file`);
    addSavedStyle(`file: ${file.name}`, style);
    $("style-status").textContent = `Loaded ${file.name}: it is now selected above.`;
  } catch (e) {
    $("style-error").textContent = e.message;
  }
}

async function readScan() {
  $("scan-error").textContent = "";
  $("scan-text").textContent = "…";
  try {
    const file = $("scan").files[0];
    if (!file) throw new Error("choose an image first");
    const form = new FormData();
    form.append("file", file);
    const response = await fetch("/api/read/image", {method: "POST", body: form});
    if (!response.ok) await fail(response);
    $("scan-text").textContent = (await response.json()).text || "(nothing read)";
  } catch (e) {
    $("scan-text").textContent = "";
    $("scan-error").textContent = e.message;
  }
}

async function start() {
  const response = await fetch("/api/info");
  info = await response.json();
  $("models").textContent = `Writer: ${info.writer}; readers: ${info.online_reader} (drawings), ` +
    `${info.offline_reader} (scans).`;
  $("bias").value = info.defaults.bias;
  $("bias-value").textContent = Number(info.defaults.bias).toFixed(1);
  $("use-lm").disabled = !info.lm;
  fillStyles(info.styles.length ? "shipped:" + info.styles[0] : "");
  $("bias").addEventListener("input", () => {
    $("bias-value").textContent = Number($("bias").value).toFixed(1);
  });
  $("write").addEventListener("click", write);
  $("download-png").addEventListener("click", pngFromSvg);
  $("show-attention").addEventListener("change", () => lastPage && drawAttention(lastPage));
  setupPad();
  $("read").addEventListener("click", readDrawing);
  $("make-style").addEventListener("click", makeStyle);
  $("load-style").addEventListener("change", loadStyleFile);
  $("read-scan").addEventListener("click", readScan);
  document.body.dataset.ready = "1";
}

start();
