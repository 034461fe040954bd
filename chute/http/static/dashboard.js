// chute dashboard: polls /dashboard/summary and /dashboard/history, draws tables and SVG charts.
// Everything from the server is inserted with textContent (never innerHTML): queue names,
// values and tracebacks are untrusted text.
"use strict";

const REFRESH_MS = 3000;
const COLORS = ["#2f6fdb", "#1f9d55", "#c98a06", "#8e44ad", "#d64545", "#16a2b8", "#7f8c8d", "#e67e22", "#34495e"];
const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "chute-token";

const state = { env: null, timer: null, openQueue: null, openDict: null, dictCursor: null, openCalls: new Set() };

// -- helpers ------------------------------------------------------------------------------------

function $(sel) { return document.querySelector(sel); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function fmtTime(t) { return t ? new Date(t * 1000).toLocaleTimeString() : ""; }
function fmtDate(t) { return t ? new Date(t * 1000).toLocaleString() : ""; }
function fmtIn(t, now) {
  if (!t) return "";
  const s = Math.round(t - now);
  if (s < 0) return "expired";
  if (s < 120) return `in ${s} s`;
  if (s < 7200) return `in ${Math.round(s / 60)} min`;
  return `in ${Math.round(s / 3600)} h`;
}
function fmtDuration(c) {
  if (!c.started_at) return "";
  const end = c.finished_at || Date.now() / 1000;
  const d = end - c.started_at;
  return d < 1 ? `${Math.round(d * 1000)} ms` : `${d.toFixed(1)} s`;
}
function short(value) {
  const text = JSON.stringify(value);
  return text.length > 200 ? text.slice(0, 200) + "…" : text;
}

// -- API ----------------------------------------------------------------------------------------

class AuthNeeded extends Error {}

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined) url.searchParams.set(k, v);
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(url, { headers });
  if (resp.status === 401) throw new AuthNeeded();
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(`${resp.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return resp.json();
}

async function apiPost(path) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(new URL(path, location.origin), { method: "POST", headers });
  if (resp.status === 401) throw new AuthNeeded();
  if (!resp.ok) throw new Error(`${resp.status}: ${resp.statusText}`);
  return resp.json();
}

// -- tables -------------------------------------------------------------------------------------

function fill(tableId, rows, emptyText) {
  const body = $(`#${tableId} tbody`);
  const cols = $(`#${tableId} thead tr`).children.length;
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "empty", colSpan: cols }, emptyText))]));
}

function renderQueues(data) {
  fill("queues", data.queues.map((q) => {
    const expiries = q.partitions.map((p) => p.expires_at);
    const row = el("tr", { class: "clickable", "data-queue": q.name },
      el("td", {}, q.name),
      el("td", { class: "num len" }, q.total),
      el("td", { class: "num" }, q.partitions.length),
      el("td", {}, expiries.length ? fmtIn(Math.min(...expiries), data.now) : ""),
      el("td", {}, fmtDate(q.created_at)));
    if (q.name === state.openQueue) row.classList.add("selected");
    row.addEventListener("click", () => { state.openQueue = q.name; showQueue(q, data.now); });
    return row;
  }), "no queues");
  const open = data.queues.find((q) => q.name === state.openQueue);
  if (open) showQueue(open, data.now, false);
  else $("#queue-detail").hidden = true;
}

function showQueue(q, now, reset = true) {
  const box = $("#queue-detail");
  // While auto-refreshing, keep the items an open peek shows; only the partitions update.
  const keep = !reset && box.dataset.queue === q.name ? box.querySelector(".peek") : null;
  box.dataset.queue = q.name;
  box.hidden = false;
  const table = el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "Partition"), el("th", { class: "num" }, "Items"), el("th", {}, "Expires"), el("th", {}, ""))),
    el("tbody", {}, ...q.partitions.map((p) => {
      const btn = el("button", { type: "button" }, "peek");
      btn.addEventListener("click", () => peekQueue(q.name, p.key));
      return el("tr", { "data-partition": p.key ?? "" },
        el("td", {}, p.key === null ? "(default)" : p.key),
        el("td", { class: "num" }, p.length),
        el("td", {}, `${fmtIn(p.expires_at, now)} (${fmtDate(p.expires_at)})`),
        el("td", {}, btn));
    })));
  box.replaceChildren(el("h3", {}, `Queue ${q.name}`), table, keep || el("div", { class: "peek" }));
}

async function peekQueue(name, partition) {
  const out = $("#queue-detail .peek");
  try {
    const data = await api(`/queues/${encodeURIComponent(name)}/peek`, { env: state.env, n: 20, partition });
    out.replaceChildren(el("h3", {}, `Next items of ${partition === null ? "the default partition" : partition}`),
      data.values.length ? el("pre", {}, data.values.map(short).join("\n")) : el("p", { class: "muted" }, "empty"));
  } catch (e) { out.replaceChildren(el("p", { class: "error" }, e.message)); }
}

function renderDicts(data) {
  fill("dicts", data.dicts.map((d) => {
    const row = el("tr", { class: "clickable", "data-dict": d.name },
      el("td", {}, d.name), el("td", { class: "num len" }, d.len), el("td", {}, fmtDate(d.created_at)));
    if (d.name === state.openDict) row.classList.add("selected");
    row.addEventListener("click", () => { state.openDict = d.name; browseDict(d.name, null); });
    return row;
  }), "no dicts");
}

async function browseDict(name, cursor) {
  const box = $("#dict-detail");
  box.hidden = false;
  try {
    const page = await api(`/dicts/${encodeURIComponent(name)}/items`, { env: state.env, limit: 50, cursor });
    const rows = page.items.map((it) => el("tr", {},
      el("td", {}, el("code", {}, it.key)),
      el("td", { class: "muted" }, it.key_type),
      el("td", {}, it.error ? el("span", { class: "error" }, it.error) : el("code", {}, short(it.value)))));
    const nav = el("div", {});
    if (cursor) {
      const first = el("button", { type: "button" }, "first page");
      first.addEventListener("click", () => browseDict(name, null));
      nav.append(first);
    }
    if (page.next) {
      const next = el("button", { type: "button" }, "next page");
      next.addEventListener("click", () => browseDict(name, page.next));
      nav.append(next);
    }
    box.replaceChildren(el("h3", {}, `Dict ${name}`),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Key"), el("th", {}, "Key type"), el("th", {}, "Value"))),
        el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { class: "empty", colSpan: 3 }, "empty"))]))),
      nav);
  } catch (e) { box.replaceChildren(el("p", { class: "error" }, e.message)); }
}

function renderFunctions(data) {
  const err = $("#jobs-error");
  err.hidden = !data.jobs_error;
  err.textContent = data.jobs_error ? `Jobs unavailable: ${data.jobs_error}` : "";
  fill("functions", data.functions.map((f) => el("tr", { "data-function": `${f.app}.${f.name}` },
    el("td", {}, f.app),
    el("td", {}, f.name, f.waits ? el("div", { class: "waits" }, `waits: ${f.waits}`) : ""),
    el("td", { class: "num" }, f.stats.pending), el("td", { class: "num" }, f.stats.running),
    el("td", { class: "num" }, f.stats.succeeded), el("td", { class: "num" }, f.stats.failed),
    el("td", { class: "num" }, f.stats.cancelled), el("td", { class: "num" }, f.retried),
    el("td", { class: "num" }, f.spec?.retries?.max_retries ?? ""),
    el("td", { class: "next-run" }, f.paused ? "paused" : f.next_run ? fmtIn(f.next_run, data.now) : ""))),
    "no deployed functions");
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  return `${Math.round(n / (1 << 20))} MiB`;
}
function fmtSpan(s) {
  if (s < 10) return `${+s.toFixed(1)} s`;
  if (s < 120) return `${Math.max(0, Math.round(s))} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function workerCalls(w, now) {
  // The calls a live worker holds now: id, function, attempt and how long each has run.
  if (!w.alive) return w.running ? `${w.running} running (from the calls list)` : "";
  const held = w.calls || [];  // an older server sends no calls
  if (!held.length) return el("span", { class: "muted" }, "idle");
  return el("ul", { class: "worker-calls" }, ...held.map((c) => el("li", { "data-worker-call": c.call_id },
    el("code", {}, c.call_id), ` ${c.function} · attempt ${c.attempt} · `,
    c.started_at ? `running for ${fmtSpan(now - c.started_at)}` : "queued")));
}

function renderWorkers(data) {
  fill("workers", data.workers.map((w) => el("tr", { "data-worker": w.id },
    el("td", {}, el("code", {}, w.id)),
    el("td", {}, w.alive ? "alive" : el("span", { class: "muted" }, "not registered")),
    el("td", { class: "host" }, w.host || ""),
    el("td", { class: "num pid" }, w.pid ?? ""),
    el("td", {}, (w.functions || []).join(", ")),
    el("td", { class: "num executors" }, w.max_executors ? `${w.executors} / ${w.max_executors}` : w.executors),
    el("td", { class: "calls" }, workerCalls(w, data.now)),
    el("td", { class: "num memory" }, fmtBytes(w.memory)),
    el("td", { class: "num" }, w.recent),
    el("td", {}, w.started_at ? fmtDate(w.started_at) : ""),
    el("td", {}, fmtTime(w.last_seen)))), "no workers");
}

function renderCalls(data) {
  fill("calls", data.calls.map((c) => {
    let error = c.error || "";
    if (c.traceback) {
      const details = el("details", { class: "call-error" }, el("summary", {}, c.error || "traceback"),
        el("pre", { class: "traceback" }, c.traceback));
      details.open = state.openCalls.has(c.id);
      details.addEventListener("toggle", () => {
        if (details.open) state.openCalls.add(c.id); else state.openCalls.delete(c.id);
      });
      error = details;
    }
    const stateCell = el("td", {}, el("span", { class: `state ${c.state}` }, c.state));
    if (c.progress !== null && c.progress !== undefined && c.state === "running") {
      stateCell.append(" ", el("progress", { class: "call-progress", max: 1, value: c.progress,
        title: `${Math.round(c.progress * 100)}% ${c.progress_meta ? JSON.stringify(c.progress_meta) : ""}` }),
        el("span", { class: "progress-text" }, ` ${Math.round(c.progress * 100)}%`));
    }
    let action = "";
    if (c.state === "failed" || c.state === "cancelled") {
      action = el("button", { type: "button", class: "retry" }, "retry");
      action.addEventListener("click", async (ev) => {
        ev.stopPropagation();  // not a click on the row (which opens the call's detail)
        action.disabled = true;
        try {
          const out = await apiPost(`/calls/${encodeURIComponent(c.id)}/retry`);
          action.textContent = out.retried ? "retried" : "not retried";
        } catch (e) {
          action.textContent = e instanceof AuthNeeded ? "sign in needed" : "error";
        }
      });
    }
    return el("tr", { "data-call": c.id },
      el("td", {}, el("code", {}, c.id)), el("td", {}, `${c.app}.${c.function}`),
      stateCell,
      el("td", { class: "num" }, c.attempts), el("td", {}, fmtTime(c.created_at)),
      el("td", { class: "num" }, fmtDuration(c)), el("td", {}, error), el("td", {}, action));
  }), "no calls");
}

// -- charts -------------------------------------------------------------------------------------

const W = 600, H = 200, PAD = { l: 40, r: 8, t: 8, b: 22 };

const TICKS = 4;  // time-axis intervals: ticks at both ends and 3 between

function fmtTick(t, span) {
  const d = new Date(t * 1000);
  return span > 600 ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleTimeString();
}

function axes(chart, maxY, t0, t1) {
  // Value grid on the left; the time axis [t0, t1] with clock-time ticks along the bottom.
  const nodes = [];
  for (const frac of [0, 0.5, 1]) {
    const y = PAD.t + (H - PAD.t - PAD.b) * (1 - frac);
    nodes.push(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: "grid" }));
    const label = svg("text", { x: PAD.l - 4, y: y + 4, "text-anchor": "end" });
    label.textContent = String(Math.round(maxY * frac));
    nodes.push(label);
  }
  for (let i = 0; i <= TICKS; i++) {
    const x = PAD.l + (W - PAD.l - PAD.r) * i / TICKS;
    const anchor = i === 0 ? "start" : i === TICKS ? "end" : "middle";
    nodes.push(svg("line", { x1: x, x2: x, y1: H - PAD.b, y2: H - PAD.b + 4, class: "tick" }));
    const label = svg("text", { x, y: H - 6, "text-anchor": anchor, class: "tick-label" });
    label.textContent = fmtTick(t0 + (t1 - t0) * i / TICKS, t1 - t0);
    nodes.push(label);
  }
  chart.replaceChildren(...nodes);
}

function chartWindow(series) {
  // The time the charts cover: the sampler's window up to its last sample (server clock).
  const t1 = series.now || Date.now() / 1000;
  return [t1 - (series.window || 3600), t1];
}

function legend(box, names) {
  box.replaceChildren(...names.map((n, i) => {
    const swatch = el("i");
    swatch.style.background = COLORS[i % COLORS.length];
    return el("span", {}, swatch, n);
  }));
}

function drawDepth(series) {
  const chart = $("#depth-chart");
  const t = series.t || [];
  if (series.window) {
    $("#depth-span").textContent = `(last ${fmtSpan(series.window)}, sampled every ${fmtSpan(series.interval)})`;
  }
  if (t.length < 2) { chart.replaceChildren(); legend($("#depth-legend"), ["collecting samples…"]); return; }
  // The total line only adds information when there are several queues.
  const lines = Object.keys(series.queues).length > 1 ? { total: series.total, ...series.queues } : { ...series.queues };
  if (!Object.keys(lines).length) lines.total = series.total;
  const maxY = Math.max(2, ...Object.values(lines).flat());  // 2: the mid grid line stays a whole number
  const [t0, t1] = chartWindow(series);
  axes(chart, maxY, t0, t1);
  const x = (v) => PAD.l + (W - PAD.l - PAD.r) * (v - t0) / Math.max(1, t1 - t0);
  const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / maxY);
  Object.entries(lines).forEach(([name, values], i) => {
    const points = values.map((v, j) => [t[j], v]).filter(([tj]) => tj >= t0)
      .map(([tj, v]) => `${x(tj).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", {
      points, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": name === "total" ? 2.5 : 1.5,
      "data-series": name,
    }));
  });
  legend($("#depth-legend"), Object.keys(lines));
}

function drawThroughput(series) {
  const chart = $("#throughput-chart");
  const tp = series.throughput || {};
  const states = Object.keys(tp);
  if (series.window) {
    $("#throughput-span").textContent = `(last ${fmtSpan(series.window)}, finished calls per ${fmtSpan(series.throughput_bin)})`;
  }
  if (!states.length) { chart.replaceChildren(); return; }
  const n = tp[states[0]].length;
  const totals = Array.from({ length: n }, (_, i) => states.reduce((s, k) => s + tp[k][i], 0));
  const maxY = Math.max(2, ...totals);
  const t0 = series.throughput_start, t1 = t0 + n * series.throughput_bin;
  axes(chart, maxY, t0, t1);
  const bw = (W - PAD.l - PAD.r) / n;
  const scale = (H - PAD.t - PAD.b) / maxY;
  const colors = { succeeded: "#1f9d55", failed: "#d64545", cancelled: "#7f8c8d" };
  for (let i = 0; i < n; i++) {
    let base = H - PAD.b;
    for (const s of states) {
      const h = tp[s][i] * scale;
      if (h > 0) {
        chart.append(svg("rect", { x: PAD.l + i * bw, y: base - h, width: Math.max(1, bw - 1), height: h, fill: colors[s] || "#999" }));
        base -= h;
      }
    }
  }
  const box = $("#throughput-legend");
  box.replaceChildren(...states.map((s) => {
    const swatch = el("i");
    swatch.style.background = colors[s] || "#999";
    return el("span", {}, swatch, `${s} ${tp[s].reduce((a, b) => a + b, 0)}`);
  }));
}

// -- main loop ----------------------------------------------------------------------------------

function setStatus(text, isError) {
  const s = $("#status");
  s.textContent = text;
  s.className = isError ? "error" : "muted";
}

function renderEnvs(data) {
  const select = $("#env");
  const current = [...select.options].map((o) => o.value).join(",");
  if (current !== data.envs.join(",")) {
    select.replaceChildren(...data.envs.map((e) => el("option", { value: e }, e)));
  }
  select.value = data.env;
}

async function refresh() {
  try {
    const [data, history] = await Promise.all([
      api("/dashboard/summary", { env: state.env }),
      api("/dashboard/history", { env: state.env }),
    ]);
    state.env = data.env;
    $("#login").hidden = true;
    $("#main").hidden = false;
    renderEnvs(data);
    renderQueues(data);
    renderDicts(data);
    renderFunctions(data);
    renderWorkers(data);
    renderFunctionFilter(data);
    await loadCalls(data);  // calls.js: filters, search, paging, detail
    drawDepth(history.series || {});
    drawThroughput(history.series || {});
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (e instanceof AuthNeeded) {
      $("#main").hidden = true;
      $("#login").hidden = false;
      setStatus("sign in needed", true);
    } else {
      setStatus(e.message, true);
    }
  }
}

function schedule() {
  clearInterval(state.timer);
  if ($("#auto").checked) state.timer = setInterval(refresh, REFRESH_MS);
}

function init() {
  // A token may be handed over in the URL fragment (never sent to the server): /#token=...
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.env = new URLSearchParams(location.search).get("env");
  $("#env").addEventListener("change", (ev) => {
    state.env = ev.target.value;
    state.openQueue = state.openDict = null;
    $("#dict-detail").hidden = true;
    refresh();
  });
  $("#auto").addEventListener("change", schedule);
  $("#login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#login-error").textContent = "";
    await refresh();
    if (!$("#login").hidden) $("#login-error").textContent = "That token was refused.";
  });
  refresh();
  schedule();
}

document.addEventListener("DOMContentLoaded", init);
