// chute dashboard, calls: filters (function, state), search by id, paging, and a call's detail
// (arguments, timings, progress, error and traceback, its output per attempt, cancel, retry). Loaded after dashboard.js and
// uses its helpers ($, el, api, fill, fmt*); untrusted text goes in with textContent only.
"use strict";

const CALLS_PAGE = 50;
const calls = { fn: "", state: "", search: "", limit: CALLS_PAGE, open: null, functions: [], generation: 0 };

function callsFiltered() { return calls.fn || calls.state || calls.search || calls.limit > CALLS_PAGE; }

async function loadCalls(summary) {
  // No filter: the summary's recent calls (one request per refresh). Else the /calls listing.
  // A listing asked for before a filter changed may answer after the new one: drop it.
  const generation = ++calls.generation;
  let rows;
  if (calls.search) {
    try { rows = [await api(`/calls/${encodeURIComponent(calls.search)}`)]; } catch (e) { rows = []; }
  } else if (callsFiltered()) {
    const [app, fn] = calls.fn ? calls.fn.split("\u0000") : [null, null];
    rows = await api("/calls", { env: state.env, app, function: fn, state: calls.state || null, limit: calls.limit });
  } else {
    rows = summary.calls;
  }
  if (generation !== calls.generation) return;
  renderCalls({ calls: rows });
  $("#calls-more").hidden = !!calls.search || rows.length < calls.limit || calls.limit >= 1000;
  $("#calls-count").textContent = `${rows.length} shown`;
  for (const tr of document.querySelectorAll("#calls tbody tr[data-call]")) {
    tr.classList.add("clickable");
    if (tr.dataset.call === calls.open) tr.classList.add("selected");
    tr.addEventListener("click", (ev) => {
      if (ev.target.closest("details")) return;  // the inline traceback toggles itself
      showCall(tr.dataset.call);
    });
  }
  if (calls.open) await showCall(calls.open, false);
}

function renderFunctionFilter(summary) {
  const names = summary.functions.map((f) => [f.app, f.name]);
  const key = JSON.stringify(names);
  if (key === JSON.stringify(calls.functions)) return;
  calls.functions = names;
  const select = $("#calls-fn");
  select.replaceChildren(el("option", { value: "" }, "all functions"),
    ...names.map(([a, f]) => el("option", { value: `${a}\u0000${f}` }, `${a}.${f}`)));
  select.value = calls.fn;
}

async function post(path) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(new URL(path, location.origin), { method: "POST", headers });
  if (!resp.ok) throw new Error(`${resp.status}: ${resp.statusText}`);
  return resp.json();
}

function secs(a, b) { return a && b ? `${(b - a).toFixed(2)} s` : ""; }

async function showCall(id, scroll = true) {
  calls.open = id;
  const box = $("#call-detail");
  let info, logs;
  try {
    [info, logs] = await Promise.all([api(`/calls/${id}`), api(`/calls/${id}/logs`)]);
    // A refresh's reload of the call open before a click may answer after the click's.
    if (calls.open !== id) return;
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, `${id}: ${e.message}`));
    box.hidden = false;
    return;
  }
  const rows = [
    ["function", `${info.app}.${info.function}`], ["arguments", info.args_summary || ""], ["state", info.state],
    ["attempts", `${info.attempts} (${info.failures} failed${info.lost ? `, ${info.lost} lost` : ""})`],
    ["created", fmtDate(info.created_at)],
    ["queued for", secs(info.created_at, info.started_at)],
    ["ran for (last attempt)", secs(info.started_at, info.finished_at)],
    ["worker", info.worker || ""], ["result expires", fmtDate(info.expires_at)],
    ["progress", info.progress === null || info.progress === undefined ? ""
      : `${Math.round(info.progress * 100)}%${info.progress_meta ? " " + JSON.stringify(info.progress_meta) : ""}`],
  ].filter(([, v]) => v !== "");
  const parts = [
    el("h3", {}, "Call ", el("code", {}, id),
      el("button", { type: "button", class: "close", "aria-label": "close" }, "×")),
    el("table", { class: "kv" }, el("tbody", {}, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))),
  ];
  const terminal = ["succeeded", "failed", "cancelled", "expired"].includes(info.state);
  if (!terminal) parts.push(el("button", { type: "button", id: "call-cancel" }, "Cancel call"));
  if (info.state === "failed" || info.state === "cancelled") {
    parts.push(el("button", { type: "button", id: "call-retry" }, "Retry call"));
  }
  if (info.error) parts.push(el("p", { class: "error" }, info.error));
  if (info.traceback) parts.push(el("pre", { class: "traceback" }, info.traceback));
  parts.push(el("h3", {}, "Output ", el("span", { class: "muted" }, "(stdout and stderr, last 64 KiB per attempt)")));
  if (!logs.attempts.length) parts.push(el("p", { class: "muted" }, "nothing printed"));
  for (const a of logs.attempts) {
    parts.push(el("div", { class: "muted" }, `attempt ${a.attempt}`), el("pre", { class: "logs" }, a.text));
  }
  box.replaceChildren(...parts);
  box.hidden = false;
  box.querySelector(".close").addEventListener("click", () => { calls.open = null; box.hidden = true; });
  const cancel = box.querySelector("#call-cancel");
  if (cancel) {
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try { await post(`/calls/${id}/cancel`); } catch (e) { setStatus(e.message, true); }
      await showCall(id, false);
    });
  }
  const retry = box.querySelector("#call-retry");
  if (retry) {
    retry.addEventListener("click", async () => {
      retry.disabled = true;
      try { await post(`/calls/${id}/retry`); } catch (e) { setStatus(e.message, true); }
      await showCall(id, false);
    });
  }
  if (scroll) box.scrollIntoView({ block: "nearest" });
}

function initCalls() {
  const again = () => refresh();
  $("#calls-fn").addEventListener("change", (ev) => { calls.fn = ev.target.value; calls.limit = CALLS_PAGE; again(); });
  $("#calls-state").addEventListener("change", (ev) => { calls.state = ev.target.value; calls.limit = CALLS_PAGE; again(); });
  $("#calls-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    calls.search = $("#calls-id").value.trim();
    again();
  });
  $("#calls-more").addEventListener("click", () => { calls.limit = Math.min(1000, calls.limit + CALLS_PAGE); again(); });
}

document.addEventListener("DOMContentLoaded", initCalls);
