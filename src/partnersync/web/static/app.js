// partnersync dashboard: plain JavaScript, no build step, no external resources.
// The API token lives in sessionStorage and is only ever sent in the Authorization header.
"use strict";

const TOKEN_KEY = "partnersync.token";
const FAST_POLL_MS = 2000;   // while something runs
const SLOW_POLL_MS = 15000;  // otherwise
const CHART_RUNS = 20;

const state = {
  tasks: [],
  stats: {},
  runSignature: "",
  expanded: new Set(),
  openErrors: new Set(),
  editing: null,        // task whose interval is being edited
  linking: null,        // group id whose partner picker is open
  timer: null,
};

// ---------------------------------------------------------------- helpers

const $ = (id) => document.getElementById(id);

/** Build an element: h("div", {class: "x", onclick: f}, child, "text", ...). Text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") el.style.cssText = value;  // CSSOM: allowed by the CSP, unlike an attribute
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(child));
  return el;
}

const fmt = new Intl.NumberFormat();
const number = (n) => (n === null || n === undefined ? "–" : fmt.format(n));

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60), sec = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${sec} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function minutes(total) {
  if (total % 1440 === 0) return total === 1440 ? "day" : `${total / 1440} days`;
  if (total % 60 === 0) return total === 60 ? "hour" : `${total / 60} h`;
  return `${total} min`;
}

function relative(iso) {
  if (!iso) return "never";
  const diff = (new Date(iso).getTime() - Date.now()) / 1000;
  const abs = Math.abs(diff);
  let text;
  if (abs < 45) text = "a few seconds";
  else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400) text = `${(abs / 3600).toFixed(abs < 36000 ? 1 : 0)} h`;
  else text = `${Math.round(abs / 86400)} d`;
  return diff < 0 ? `${text} ago` : `in ${text}`;
}

const localTime = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const shortTime = (iso) => {
  if (!iso) return "–";
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
};

function toast(text, bad = false) {
  const el = h("div", { class: bad ? "toast bad" : "toast", role: "status" }, text);
  $("toasts").append(el);
  setTimeout(() => el.remove(), 4500);
}

const STATUS_PILL = { success: "pill-ok", failed: "pill-bad", running: "pill-run" };
const pill = (status, text) => h("span", { class: `pill ${STATUS_PILL[status] || "pill-muted"}` }, text || status);

/** Previous/next buttons for the paragraph `containerId`; `go(page)` shows that page (it may
 * return a promise) and the button pressed keeps the focus, for keyboard users. */
function pager(page, pages, what, go, containerId) {
  if (pages <= 1) return [];
  const move = (to, which) => Promise.resolve(go(to)).then(() => {
    const box = $(containerId);
    const again = box && (box.querySelector(`button[data-pager="${which}"]:not(:disabled)`) ||
      box.querySelector("button:not(:disabled)"));
    if (again) again.focus();
  });
  return [
    h("button", { class: "small", type: "button", "data-pager": "previous", disabled: page === 0,
      onclick: () => move(page - 1, "previous") }, "‹ Previous"),
    ` page ${page + 1} of ${pages} (${what}) `,
    h("button", { class: "small", type: "button", "data-pager": "next", disabled: page >= pages - 1,
      onclick: () => move(page + 1, "next") }, "Next ›"),
  ];
}

// ---------------------------------------------------------------- API access

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    cache: "no-store",
  });
  if (response.status === 401) throw new Unauthorized();
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw failure(response, body);
  return body;
}

/** The error to throw for an answer that is not ok: the API's `detail`, or the status line. */
function failure(response, body) {
  const detail = body && body.detail;
  const message = Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : detail;
  const error = new Error(message || `${response.status} ${response.statusText}`);
  error.status = response.status;
  return error;
}

/** Fetch a CSV with the token and save it: a plain link could not send the Authorization header. */
async function download(path, fallbackName, button) {
  if (button) button.disabled = true;
  try {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: "text/csv" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { headers, cache: "no-store" });
    if (response.status === 401) throw new Unauthorized();
    if (!response.ok) throw failure(response, await response.json().catch(() => null));
    const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const filename = named ? named[1] : fallbackName;
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);  // the download has long started by then
    toast(`Saved ${filename}`);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------------------------------------------------------------- sign in / out

function showLogin(message) {
  clearTimeout(state.timer);
  $("app").hidden = true;
  $("signout").hidden = true;
  $("refresh").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  await start();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
}

async function start() {
  try {
    await refreshAll();
  } catch (error) {
    if (error instanceof Unauthorized) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin("That token was not accepted.");
      return;
    }
    toast(`Could not load: ${error.message}`, true);
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  $("refresh").hidden = false;
  schedule();
}

function guard(promise) {
  return promise.catch((error) => {
    if (error instanceof Unauthorized) showLogin("The token is no longer accepted; sign in again.");
    else toast(error.message, true);
  });
}

// ---------------------------------------------------------------- polling

const anyRunning = () => state.tasks.some((t) => t.status === "running");

function schedule() {
  clearTimeout(state.timer);
  const wait = anyRunning() ? FAST_POLL_MS : SLOW_POLL_MS;
  $("poll-note").textContent = anyRunning() ? "live · updating every 2 s" : "updating every 15 s";
  state.timer = setTimeout(() => guard(poll()).finally(schedule), wait);
}

async function poll() {
  await Promise.all([loadTasks(), loadHealth(), loadWebhooks()]);
  const signature = state.tasks.map((t) => `${t.running_log_id}:${t.last_run && t.last_run.id}`).join(",");
  const changed = signature !== state.runSignature;
  state.runSignature = signature;
  if (changed || anyRunning()) await loadHistory();
  if (changed) {
    await Promise.all([loadStats(), loadApiUsage(), loadAccess()]);
    renderTasks();
  }
  renderSummary();
  $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function refreshAll() {
  await Promise.all([loadTasks(), loadStats(), loadHealth()]);
  state.runSignature = state.tasks.map((t) => `${t.running_log_id}:${t.last_run && t.last_run.id}`).join(",");
  fillTaskFilter();
  await Promise.all([loadHistory(), loadApiUsage(), loadWebhooks(), loadPartnersPanel(), loadLinks(), loadSuggestions(), loadAccess()]);
  renderTasks();
  renderSummary();
  $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function loadHealth() {
  let health;
  try {
    const response = await fetch("/api/health", { cache: "no-store" });
    health = await response.json();
  } catch (error) {
    health = { status: "down", scheduler: "absent" };
  }
  const el = $("health");
  const label = { ok: "healthy", degraded: "scheduler stale", down: "database down" }[health.status] || health.status;
  el.className = `pill ${health.status === "ok" ? "pill-ok" : health.status === "down" ? "pill-bad" : "pill-warn"}`;
  el.textContent = label;
  const age = health.scheduler_heartbeat_age_seconds;
  el.title = `database ${health.database ? "reachable" : "unreachable"} · scheduler ${health.scheduler}` +
    (age !== null && age !== undefined ? ` (last tick ${duration(age)} ago)` : "");
}

// ---------------------------------------------------------------- summary

async function loadWebhooks() {
  state.webhooks = await api("/api/webhooks/status");
}

function webhookTile(tile) {
  const hooks = state.webhooks;
  if (!hooks || !hooks.configured) return tile("", "Webhooks", "off");
  const last = hooks.last_delivery_at ? `last ${relative(hooks.last_delivery_at)}` : "none yet";
  if (hooks.problem) {  // the whole finding on hover; the failed webhook_replay run has it too
    const stopped = tile("bad", "Webhooks", "stopped", last);
    stopped.title = hooks.problem;
    return stopped;
  }
  return tile("ok", "Webhooks", last, hooks.pending ? `${hooks.pending} pending` : "");
}

function renderSummary() {
  const tasks = state.tasks;
  const enabled = tasks.filter((t) => t.enabled).length;
  const running = tasks.filter((t) => t.status === "running").length;
  const failing = tasks.filter((t) => t.last_status === "failed").length;
  const usage = state.apiUsage ? state.apiUsage.apis : [];
  const limited = usage.reduce((sum, a) => sum + a.rate_limited, 0);
  const requests = usage.reduce((sum, a) => sum + a.requests, 0);
  const tile = (cls, label, value, extra) =>
    h("div", { class: `tile ${cls}` }, h("div", { class: "label" }, label),
      h("div", { class: "value" }, value, extra ? h("small", {}, ` ${extra}`) : null));
  $("summary").replaceChildren(
    tile("", "Tasks enabled", enabled, `of ${tasks.length}`),
    tile(running ? "run" : "", "Running now", running),
    tile(failing ? "bad" : "ok", "Failing tasks", failing),
    tile("", "API requests · 24 h", number(requests)),
    tile(limited ? "bad" : "", "429 answers · 24 h", number(limited)),
    webhookTile(tile),
  );
}

// ---------------------------------------------------------------- task cards

async function loadTasks() {
  state.tasks = await api("/api/tasks");
  renderTasks();
}

async function loadStats() {
  state.stats = await api(`/api/run-stats?per_task=${CHART_RUNS}`);
}

function taskClass(task) {
  if (task.status === "running") return "s-running";
  if (!task.enabled) return "s-disabled";
  return task.last_status ? `s-${task.last_status}` : "s-never";
}

function statusLine(task) {
  if (task.status === "running") {
    return h("span", { class: "task-line" }, pill("running", "running"),
      h("span", { class: "muted", title: localTime(task.last_run_at) }, `started ${relative(task.last_run_at)}`));
  }
  if (!task.last_status) return h("span", { class: "task-line" }, pill("", "never run"));
  const when = task.last_run ? task.last_run.completed_at || task.last_run.started_at : task.last_run_at;
  const text = task.last_status === "success" ? "succeeded" : "failed";
  const failures = task.consecutive_failures > 1 ? ` · ${task.consecutive_failures} in a row` : "";
  return h("span", { class: "task-line" }, pill(task.last_status, text),
    h("span", { class: "muted", title: localTime(when) }, relative(when) + failures));
}

function progressBar(task) {
  const p = task.progress || {};
  const known = p.total !== null && p.total !== undefined && p.total > 0;
  const share = known ? Math.min(100, Math.round((100 * (p.done || 0)) / p.total)) : 0;
  const label = p.stage
    ? `${p.stage} · ${number(p.done)}${known ? ` / ${number(p.total)}` : ""}`
    : "starting…";
  return h("div", { class: "progress", role: "progressbar", "aria-valuenow": known ? share : null,
      "aria-valuemin": 0, "aria-valuemax": 100, "data-task": task.name },
    h("div", { class: "progress-label" }, h("span", {}, label), h("span", {}, known ? `${share}%` : "")),
    h("div", { class: known ? "bar" : "bar indeterminate" }, h("div", { style: `width:${share}%` })));
}

function counts(run) {
  const cell = (label, value, cls) => h("div", { class: cls || "" }, h("b", {}, number(value)), h("span", {}, label));
  if (!run) return null;
  return h("div", { class: "counts", title: "records in the last finished run" },
    cell("processed", run.records_processed), cell("created", run.records_created),
    cell("updated", run.records_updated), cell("deleted", run.records_deleted),
    cell("failed", run.records_failed, run.records_failed ? "bad" : ""));
}

/** Bars: records processed per run (red when the run failed); line: duration. */
function chart(points) {
  if (!points || points.length === 0) return h("div", { class: "chart-empty" }, "no runs to chart yet");
  const width = 300, height = 54, pad = 3;
  const maxRecords = Math.max(1, ...points.map((p) => p.records_processed));
  const maxDuration = Math.max(0.001, ...points.map((p) => p.duration_seconds || 0));
  const step = width / Math.max(points.length, 8);
  const offset = width - points.length * step;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none",
    role: "img", "aria-label": "records and duration of recent runs" });
  const line = [];
  points.forEach((p, i) => {
    const x = offset + i * step;
    const barHeight = Math.max(1.5, ((height - pad) * p.records_processed) / maxRecords);
    const bar = s("rect", { class: p.status === "failed" ? "b failed" : "b", x: x + 1.5, y: height - barHeight,
      width: Math.max(step - 3, 1), height: barHeight, rx: 1.5 });
    bar.append(s("title", {}, `run ${p.id} · ${shortTime(p.started_at)} · ${p.status}\n` +
      `${number(p.records_processed)} processed, ${number(p.records_written)} written · ${duration(p.duration_seconds)}`));
    svg.append(bar);
    const y = height - pad - ((height - 2 * pad) * (p.duration_seconds || 0)) / maxDuration;
    line.push(`${(x + step / 2).toFixed(1)},${y.toFixed(1)}`);
  });
  svg.append(s("polyline", { class: "d", points: line.join(" ") }));
  const last = line[line.length - 1].split(",");
  svg.append(s("circle", { class: "dot", cx: last[0], cy: last[1], r: 2.2 }));
  const durations = points.map((p) => p.duration_seconds || 0);
  return h("div", {}, svg, h("div", { class: "chart-legend" },
    h("span", {}, h("i", {}), `records (max ${number(maxRecords)})`),
    h("span", {}, h("i", { class: "line" }), `duration (max ${duration(Math.max(...durations))})`)));
}

function intervalView(task) {
  if (state.editing === task.name) {
    const input = h("input", { type: "number", min: 1, max: 43200, value: task.interval_minutes,
      "aria-label": `interval of ${task.name} in minutes` });
    const save = () => guard(patchTask(task.name, { interval_minutes: Number(input.value) })
      .then(() => { state.editing = null; renderTasks(); }));
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") save();
      if (e.key === "Escape") { state.editing = null; renderTasks(); }
    });
    setTimeout(() => input.focus(), 0);
    return h("span", { class: "interval-edit" }, input, "min",
      h("button", { class: "small primary", type: "button", onclick: save }, "Save"),
      h("button", { class: "small", type: "button", onclick: () => { state.editing = null; renderTasks(); } }, "Cancel"));
  }
  return h("button", { class: "linkish", type: "button", title: "change the interval",
      onclick: () => { state.editing = task.name; renderTasks(); } },
    `every ${minutes(task.interval_minutes)} ✎`);
}

function taskCard(task) {
  const running = task.status === "running";
  const enable = h("input", { type: "checkbox", checked: task.enabled, "aria-label": `enable ${task.name}`,
    onchange: (e) => guard(patchTask(task.name, { enabled: e.target.checked })) });
  const last = task.last_run;
  const errorText = task.last_status === "failed" && !running ? task.last_error : null;
  const errorOpen = state.openErrors.has(task.name);
  return h("article", { class: `card task ${taskClass(task)}`, "data-task": task.name },
    h("div", { class: "task-head" },
      h("div", {}, h("div", { class: "task-name" }, task.name), h("div", { class: "task-desc" }, task.description)),
      h("label", { class: "switch", title: task.enabled ? "scheduled" : "not scheduled" },
        enable, h("span", { class: "track" }), task.enabled ? "on" : "off")),
    statusLine(task),
    running ? progressBar(task) : null,
    errorText ? h("div", { class: errorOpen ? "task-error open" : "task-error", title: "click to expand",
      onclick: () => { errorOpen ? state.openErrors.delete(task.name) : state.openErrors.add(task.name); renderTasks(); } },
      errorText) : null,
    counts(last),
    chart(state.stats[task.name]),
    h("dl", { class: "meta" },
      h("dt", {}, "Schedule"), h("dd", {}, intervalView(task)),
      h("dt", {}, "Next run"), h("dd", { title: localTime(task.next_run_at) },
        !task.enabled ? "— (disabled)" : running ? "after this run" : task.next_run_at ? relative(task.next_run_at) : "at the next tick"),
      h("dt", {}, "Last run"), h("dd", { title: localTime(last && last.started_at) },
        last ? `${shortTime(last.started_at)} · ${duration(last.duration_seconds)} · ${last.mode} · ${last.trigger}` : "never")),
    h("div", { class: "task-actions" },
      h("button", { class: "primary", type: "button", disabled: running || !task.runnable,
        "data-action": "run", onclick: () => guard(runTask(task.name, "incremental")) }, running ? "Running…" : "Run now"),
      h("button", { type: "button", disabled: running || !task.runnable, "data-action": "full",
        title: "read everything and sweep deletions",
        onclick: () => confirm(`Run ${task.name} in full mode? It reads everything and soft-deletes ` +
          "what the vendor no longer lists (refused above the configured share).") &&
          guard(runTask(task.name, "full")) }, "Full")));
}

function renderTasks() {
  if (state.editing && document.activeElement && document.activeElement.closest(".interval-edit")) return;
  $("tasks").replaceChildren(...state.tasks.map(taskCard));
}

async function patchTask(name, change) {
  const updated = await api(`/api/tasks/${encodeURIComponent(name)}`, { method: "PATCH", body: change });
  state.tasks = state.tasks.map((t) => (t.name === name ? updated : t));
  renderTasks();
  renderSummary();
  toast(change.enabled === undefined ? `${name}: every ${minutes(updated.interval_minutes)}` :
    `${name} ${updated.enabled ? "enabled" : "disabled"}`);
}

async function runTask(name, mode) {
  try {
    const started = await api(`/api/tasks/${encodeURIComponent(name)}/run?mode=${mode}`, { method: "POST" });
    toast(`${name}: run ${started.run_id} started (${mode})`);
  } catch (error) {
    if (error.status === 409) toast(`${name} is already running`, true);
    else throw error;
  }
  await poll();
  schedule();
}

// ---------------------------------------------------------------- history

function fillTaskFilter() {
  const select = $("history-task");
  if (select.options.length > 1) return;
  for (const task of state.tasks) select.append(h("option", { value: task.name }, task.name));
}

async function loadHistory() {
  const params = new URLSearchParams({ limit: "40" });
  if ($("history-task").value) params.set("task", $("history-task").value);
  if ($("history-status").value) params.set("status", $("history-status").value);
  const runs = await api(`/api/sync-logs?${params}`);
  const body = $("history").tBodies[0];
  if (runs.length === 0) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No runs match.")));
    return;
  }
  const detailed = await Promise.all(runs.filter((run) => state.expanded.has(run.id))
    .map((run) => api(`/api/sync-logs/${run.id}`)));
  const details = new Map(detailed.map((run) => [run.id, run]));
  const rows = [];
  for (const run of runs) {
    const written = run.records_created + run.records_updated + run.records_deleted;
    const toggle = () => {
      state.expanded.has(run.id) ? state.expanded.delete(run.id) : state.expanded.add(run.id);
      guard(loadHistory());
    };
    rows.push(h("tr", { class: `run ${run.status}`, "data-run": run.id, onclick: toggle, title: "details" },
      h("td", { class: "num" }, `#${run.id}`),
      h("td", {}, h("span", { class: "task-name small" }, run.task), " ",
        run.mode === "full" ? h("span", { class: "tag full" }, "full") : null),
      h("td", {}, pill(run.status)),
      h("td", { title: localTime(run.started_at) }, shortTime(run.started_at), " ",
        h("span", { class: "muted small" }, run.trigger)),
      h("td", { class: "num" }, run.status === "running" ? "…" : duration(run.duration_seconds)),
      h("td", { class: "num" }, number(run.records_processed)),
      h("td", { class: "num", title: `${run.records_created} created · ${run.records_updated} updated · ${run.records_deleted} deleted` }, number(written)),
      h("td", { class: "num" }, run.records_failed ? h("b", { style: "color:var(--bad)" }, number(run.records_failed)) : "0"),
      h("td", { class: "num" }, number(run.api_requests))));
    if (details.has(run.id)) rows.push(detailRow(details.get(run.id)));
  }
  body.replaceChildren(...rows);
}

function detailRow(run) {
  const streams = Object.entries(run.streams || {});
  const apis = Object.entries(run.api || {});
  const notes = streams.flatMap(([name, st]) => (st.notes || []).map((n) => `${name}: ${n}`));
  const examples = streams.flatMap(([name, st]) => (st.failure_examples || []).map((n) => `${name}: ${n}`));
  return h("tr", { class: "detail" }, h("td", { colspan: 9 },
    run.error_message ? h("pre", { class: "error" }, run.error_message) : null,
    h("div", { class: "detail-grid" },
      h("div", {}, h("h3", {}, "Streams"), streams.length ? h("table", { class: "mini" },
        h("tr", {}, h("th", {}, "stream"), ...["proc", "new", "upd", "del", "fail"].map((c) => h("th", { class: "num" }, c))),
        ...streams.map(([name, st]) => h("tr", {}, h("td", {}, name),
          ...[st.processed, st.created, st.updated, st.deleted, st.failed].map((v) => h("td", { class: "num" }, number(v))))))
        : h("span", { class: "muted" }, "none recorded")),
      h("div", {}, h("h3", {}, "API"), apis.length ? h("table", { class: "mini" },
        h("tr", {}, h("th", {}, "api"), ...["requests", "429s", "retries", "failed"].map((c) => h("th", { class: "num" }, c))),
        ...apis.map(([name, a]) => h("tr", {}, h("td", {}, name),
          ...[a.requests, a.rate_limited, a.retries, a.failures].map((v) => h("td", { class: "num" }, number(v))))))
        : h("span", { class: "muted" }, "no vendor requests")),
      h("div", {}, h("h3", {}, "Run"), h("div", { class: "mini" },
        `${run.mode} · ${run.trigger} · ${run.owner || ""}`, h("br"),
        `started ${localTime(run.started_at)}`, h("br"),
        run.completed_at ? `finished ${localTime(run.completed_at)}` : "still running"))),
    notes.length ? h("div", { class: "mini" }, h("h3", { class: "muted" }, "Notes"), ...notes.slice(0, 20).map((n) => h("div", {}, n))) : null,
    examples.length ? h("div", { class: "mini" }, h("h3", { class: "muted" }, "Skipped records"), ...examples.slice(0, 20).map((n) => h("div", {}, n))) : null,
    run.access_changes && run.access_changes.length ? h("div", { class: "mini" },
      h("h3", { class: "muted" }, `Membership writes (${number(run.access_changes_total)})`),
      ...run.access_changes.slice(0, 20).map((c) => h("div", { "data-access": c.id }, accessLine(c)))) : null));
}

const accessLine = (c) => `${c.action === "add" ? "added" : "removed"} ${c.email || c.user_id} ` +
  `${c.action === "add" ? "to" : "from"} ${c.group_name || c.group_id}: ${c.reason} → ${c.answer}`;

// ---------------------------------------------------------------- API usage

async function loadApiUsage() {
  state.apiUsage = await api("/api/api-usage?hours=24");
  $("api-usage").replaceChildren(...state.apiUsage.apis.map((a) => {
    const share = a.requests ? ((100 * a.rate_limited) / a.requests).toFixed(1) : "0.0";
    const stat = (label, value, hot) => h("div", { class: hot ? "hot" : "" }, h("b", {}, number(value)), h("span", {}, label));
    return h("div", { class: "api" },
      h("div", { class: "api-head" }, h("span", { class: "api-name" }, a.name),
        h("span", { class: "muted small" }, `${a.runs} run${a.runs === 1 ? "" : "s"}`)),
      h("div", { class: "api-stats" },
        stat("requests", a.requests), stat("429s", a.rate_limited, a.rate_limited > 0),
        stat("retries", a.retries, a.retries > 0), stat("failed", a.failures, a.failures > 0)),
      h("div", { class: "api-budget" },
        `budget ${a.budget_per_second}/s, up to ${a.ceiling_per_second}/s · page ${a.page_size}` +
        (a.concurrency ? ` · ${a.concurrency} in flight` : "") + ` · 429 share ${share}%`),
      ...a.keys.map(keyBudget));
  }));
}

// One API key's shared budget now: every process using the key sends within it together.
function keyBudget(k) {
  const users = k.consumers === 1 ? "1 process" : `${k.consumers} processes`;
  return h("div", { class: "api-key", "data-key": k.key_id },
    h("span", { class: "mono small" }, k.key_id), " ",
    h("b", {}, `${k.budget_per_second.toFixed(1)}/s`), " shared · ",
    k.consumers ? `${users} sending ${k.requests_per_second.toFixed(1)}/s` : h("span", { class: "muted" }, "idle"),
    " · ", h("span", { class: k.rate_limited ? "hot" : "" }, `${number(k.rate_limited)} 429s`),
    h("span", { class: "muted" }, ` of ${number(k.requests)}`));
}

// ---------------------------------------------------------------- partners

const PARTNERS_PAGE = 25;
const PEOPLE_PAGE = 25;
const TREND_DAYS = 365;
const partnerView = {
  sort: "name",
  order: "asc",
  page: 0,
  items: [],
  total: 0,
  seq: 0,           // drops answers overtaken by a newer search
  timer: null,
  open: null,       // id of the partner whose detail is shown
  detail: null,
  history: [],
  groups: [],
  peoplePage: 0,
  detailSeq: 0,
};

const day = (iso) => (iso ? new Date(iso).toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" }) : "–");
const utcDay = (text) => new Date(`${text}T00:00:00Z`).toLocaleDateString([], {
  timeZone: "UTC", year: "numeric", month: "short", day: "numeric" });

/** The filters and order chosen, as query parameters (also for the CSV). */
function partnerFilters() {
  const params = new URLSearchParams();
  const q = $("partners-q").value.trim();
  if (q) params.set("q", q);
  if ($("partners-tier").value) params.set("tier", $("partners-tier").value);
  if ($("partners-active").checked) params.set("active", "true");
  params.set("sort", partnerView.sort);
  params.set("order", partnerView.order);
  return params;
}

async function loadPartnersPanel() {
  await loadPartnerTiers();
  await loadPartners();
  if (partnerView.open !== null) await loadPartnerDetail(false);
}

/** The tier filter offers the tiers the partners have (one spelling per tier, any case). */
async function loadPartnerTiers() {
  const all = await api("/api/partners?limit=5000&sort=id");
  const tiers = new Map();
  for (const partner of all.items) {
    if (partner.tier && !tiers.has(partner.tier.toLowerCase())) tiers.set(partner.tier.toLowerCase(), partner.tier);
  }
  const names = [...tiers.values()].sort((a, b) => a.localeCompare(b));
  const select = $("partners-tier");
  const current = select.value;
  select.replaceChildren(h("option", { value: "" }, "All tiers"), ...names.map((t) => h("option", { value: t }, t)));
  select.value = names.includes(current) ? current : "";
}

async function loadPartners() {
  const params = partnerFilters();
  params.set("limit", String(PARTNERS_PAGE));
  params.set("offset", String(partnerView.page * PARTNERS_PAGE));
  const seq = ++partnerView.seq;
  const page = await api(`/api/partners?${params}`);
  if (seq !== partnerView.seq) return;
  const pages = Math.max(1, Math.ceil(page.total / PARTNERS_PAGE));
  if (partnerView.page >= pages) {  // fewer partners than before: show the last page
    partnerView.page = pages - 1;
    await loadPartners();
    return;
  }
  partnerView.items = page.items;
  partnerView.total = page.total;
  renderPartners();
}

function sortPartners(field, first) {
  if (partnerView.sort === field) partnerView.order = partnerView.order === "asc" ? "desc" : "asc";
  else {
    partnerView.sort = field;
    partnerView.order = first || "asc";
  }
  partnerView.page = 0;
  return guard(loadPartners());
}

function renderPartners() {
  for (const th of $("partners").tHead.rows[0].cells) {
    if (!th.dataset.sort) continue;
    if (th.dataset.sort === partnerView.sort) th.setAttribute("aria-sort", partnerView.order === "asc" ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  const pages = Math.max(1, Math.ceil(partnerView.total / PARTNERS_PAGE));
  const go = (page) => { partnerView.page = page; return guard(loadPartners()); };
  $("partners-more").replaceChildren(...pager(partnerView.page, pages, `${number(partnerView.total)} partners`, go, "partners-more"));
  const body = $("partners").tBodies[0];
  if (partnerView.items.length === 0) {
    const filtered = $("partners-q").value.trim() || $("partners-tier").value || $("partners-active").checked;
    body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "empty" },
      filtered ? "No partners match." : "No partners yet (run impartner_sync first?).")));
    return;
  }
  body.replaceChildren(...partnerView.items.map(partnerRow));
}

function partnerRow(p) {
  const open = partnerView.open === p.id;
  const toggle = () => guard(openPartner(p.id));
  return h("tr", { class: open ? "partner open" : "partner", "data-partner": p.id,
    onclick: (event) => { if (!event.target.closest("button")) toggle(); } },
    h("td", {},
      h("button", { class: "linkish partner-name", type: "button", "aria-expanded": open ? "true" : "false",
        "aria-controls": "partner-detail", onclick: toggle }, p.name || "(no name)"),
      h("div", { class: "muted small" }, `Impartner ${p.impartner_id}`,
        p.is_active ? null : [" ", h("span", { class: "tag" }, "inactive")])),
    h("td", {}, p.tier || h("span", { class: "muted" }, "–")),
    h("td", { class: "num" }, number(p.certification_count)),
    h("td", { class: "num" }, number(p.total_npcu)),
    h("td", { class: "num" }, number(p.certified_users)),
    h("td", { class: "num" }, number(p.partner_users)),
    h("td", { class: "num" }, expiring(p.expiring_90d)),
    h("td", {}, driftMarker(p)));
}

const expiring = (n) => (n ? h("span", { class: "tag warn", title: "counted certifications expiring within 90 days" }, number(n)) : "0");

/** "⚠ CRM 12 ≠ 14" when Impartner (as last read back) holds other numbers than the rule gives. */
function driftMarker(p) {
  if (!p.crm_read_at) {
    return h("span", { class: "muted small", title: "the push has not read this partner back from Impartner" },
      p.last_pushed_at ? "not read back" : "not pushed");
  }
  const held = `Impartner holds ${number(p.crm_certification_count)} certifications and ${number(p.crm_total_npcu)} NPCU ` +
    `(read ${localTime(p.crm_read_at)}); the rule gives ${number(p.certification_count)} and ${number(p.total_npcu)}`;
  if (!p.drift) return h("span", { class: "muted small", title: held }, "✓ in sync");
  const parts = [];
  if (p.crm_certification_count !== p.certification_count) parts.push(`${number(p.crm_certification_count)} ≠ ${number(p.certification_count)}`);
  if (p.crm_total_npcu !== p.total_npcu) parts.push(`${number(p.crm_total_npcu)} ≠ ${number(p.total_npcu)} NPCU`);
  return h("span", { class: "tag warn drift", title: held }, `⚠ CRM ${parts.join(" · ")}`);
}

async function openPartner(id) {
  if (partnerView.open === id) {
    closePartner();
    return;
  }
  partnerView.open = id;
  partnerView.peoplePage = 0;
  renderPartners();
  await loadPartnerDetail(true);
}

function closePartner() {
  const id = partnerView.open;
  partnerView.open = null;
  partnerView.detail = null;
  partnerView.detailSeq++;
  $("partner-detail").hidden = true;
  $("partner-detail").replaceChildren();
  renderPartners();
  const row = document.querySelector(`#partners tr[data-partner="${id}"] button.partner-name`);
  if (row) row.focus();
}

async function loadPartnerDetail(focus) {
  const id = partnerView.open;
  if (id === null) return;
  const seq = ++partnerView.detailSeq;
  let detail, history, groups;
  try {
    [detail, history, groups] = await Promise.all([
      api(`/api/partners/${id}`),
      api(`/api/partners/${id}/history?days=${TREND_DAYS}`),
      api("/api/links?limit=5000"),
    ]);
  } catch (error) {
    if (error.status === 404 && seq === partnerView.detailSeq) {
      toast("That partner is no longer there.", true);
      closePartner();
      return;
    }
    throw error;
  }
  if (seq !== partnerView.detailSeq) return;  // closed, or another partner opened meanwhile
  const byId = new Map(groups.map((g) => [g.group_id, g]));
  partnerView.detail = detail;
  partnerView.history = history;
  partnerView.groups = detail.group_ids.map((g) => byId.get(g) || { group_id: g, group_name: null, link: null });
  renderPartnerDetail();
  if (focus) $("partner-detail-title").focus();
}

function renderPartnerDetail() {
  const d = partnerView.detail;
  const panel = $("partner-detail");
  panel.hidden = false;
  panel.replaceChildren(
    h("div", { class: "block-head" },
      h("div", {},
        h("h3", { id: "partner-detail-title", class: "partner-title", tabindex: "-1" }, d.name || "(no name)"),
        h("div", { class: "muted small" },
          `Impartner ${d.impartner_id} · ${d.tier || "no tier"} · ${d.is_active ? "active" : "inactive"}`)),
      h("div", { class: "filters" },
        h("button", { type: "button", "data-action": "people-csv", title: "one row per certification",
          onclick: (event) => guard(download(`/api/partners/${d.id}/users.csv`, `partner-${d.id}-users.csv`, event.currentTarget)) },
          "People CSV"),
        h("button", { type: "button", "aria-label": "close the partner detail", onclick: closePartner }, "Close"))),
    h("div", { class: "detail-grid" },
      h("div", { class: "partner-numbers" }, h("h3", {}, "Numbers"), partnerNumbers(d)),
      h("div", { class: "partner-groups" }, h("h3", {}, `Groups (${partnerView.groups.length})`), partnerGroups(partnerView.groups)),
      h("div", { class: "partner-trend" }, h("h3", {}, `Trend · ${TREND_DAYS} days`), trendChart(partnerView.history))),
    h("div", { class: "people", id: "partner-people" }, peopleTable(d.users)));
}

function partnerNumbers(d) {
  const pushed = d.last_pushed_at
    ? `${number(d.pushed_certification_count)} · ${number(d.pushed_total_npcu)} NPCU, ${shortTime(d.last_pushed_at)}`
    : "never";
  const crm = d.crm_read_at
    ? [`${number(d.crm_certification_count)} · ${number(d.crm_total_npcu)} NPCU `, driftMarker(d)]
    : driftMarker(d);
  return h("dl", { class: "meta" },
    h("dt", {}, "Certifications"), h("dd", {}, h("b", {}, number(d.certification_count))),
    h("dt", {}, "NPCU"), h("dd", {}, h("b", {}, number(d.total_npcu))),
    h("dt", {}, "Certified users"), h("dd", {}, `${number(d.certified_users)} of ${number(d.partner_users)} partner users`),
    h("dt", {}, "Expiring ≤ 90 d"), h("dd", {}, expiring(d.expiring_90d)),
    h("dt", {}, "Last pushed"), h("dd", { title: localTime(d.last_pushed_at) }, pushed),
    h("dt", {}, "Impartner holds"), h("dd", { title: localTime(d.crm_read_at) }, crm));
}

function partnerGroups(groups) {
  if (groups.length === 0) return h("p", { class: "muted small" }, "No group is linked to this partner (link one in Group ↔ partner links).");
  return h("ul", { class: "plain-list" }, ...groups.map((g) => h("li", { "data-group": g.group_id },
    h("button", { class: "linkish", type: "button", title: "show this group in Group ↔ partner links",
      onclick: () => guard(showGroup(g.group_id)) }, g.group_name || g.group_id), " ",
    g.link ? h("span", { class: `tag ${g.link}` }, g.link) : null,
    h("div", { class: "muted small" }, g.group_id))));
}

async function showGroup(groupId) {
  $("links-q").value = groupId;
  $("links-unlinked").checked = false;
  linksPage = 0;
  await loadLinks();
  $("links-q").focus();
  $("links-panel").scrollIntoView({ block: "start" });
}

/** Certifications (a line with a point per snapshot) and NPCU (dashed) over the days, each
 * line scaled from 0 to its own maximum; an SVG built with DOM calls, no chart library. */
function trendChart(history) {
  if (history.length === 0) return h("div", { class: "chart-empty" }, "No snapshots yet: the push records one a day.");
  const W = 320, H = 110, PAD = 8;
  const times = history.map((p) => Date.parse(`${p.day}T00:00:00Z`));
  const first = times[0], span = times[times.length - 1] - first;
  const x = (i) => (span > 0 ? PAD + ((times[i] - first) / span) * (W - 2 * PAD) : W / 2);
  const line = (key) => {
    const max = Math.max(1, ...history.map((p) => p[key]));
    const y = (v) => PAD + (1 - v / max) * (H - 2 * PAD);
    return { max, points: history.map((p, i) => [x(i), y(p[key])]) };
  };
  const d = (points) => points.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)} ${py.toFixed(1)}`).join(" ");
  const certs = line("certification_count");
  const npcu = line("total_npcu");
  const last = history[history.length - 1];
  const svg = s("svg", { class: "trend", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `certifications and NPCU over ${history.length} snapshots, now ${last.certification_count} and ${last.total_npcu}` },
    s("line", { class: "axis", x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD }),
    s("path", { class: "npcu", d: d(npcu.points) }),
    s("path", { class: "certs", d: d(certs.points) }),
    ...certs.points.map(([px, py], i) => s("circle", { class: "pt", cx: px.toFixed(1), cy: py.toFixed(1), r: 2.6 },
      s("title", {}, `${history[i].day}: ${history[i].certification_count} certifications, ${history[i].total_npcu} NPCU, ` +
        `${history[i].certified_users} of ${history[i].partner_users} users certified`))));
  return h("div", {},
    svg,
    h("div", { class: "trend-axis muted small" }, h("span", {}, utcDay(history[0].day)),
      h("span", {}, history.length > 1 ? utcDay(last.day) : "")),
    h("div", { class: "chart-legend" },
      h("span", {}, h("i", { class: "line" }), `certifications (max ${number(certs.max)})`),
      h("span", {}, h("i", { class: "line dashed" }), `NPCU (max ${number(npcu.max)})`)));
}

const MEMBERSHIP = {
  group: "a confirmed member of a linked group",
  contact: "linked to an active Impartner contact of the partner",
  both: "a group member and linked to a contact",
};

function peopleTable(users) {
  const pages = Math.max(1, Math.ceil(users.length / PEOPLE_PAGE));
  partnerView.peoplePage = Math.min(partnerView.peoplePage, pages - 1);
  const go = (page) => {
    partnerView.peoplePage = page;
    $("partner-people").replaceChildren(...peopleTable(partnerView.detail.users));
  };
  const shown = users.slice(partnerView.peoplePage * PEOPLE_PAGE, (partnerView.peoplePage + 1) * PEOPLE_PAGE);
  return [
    h("h3", {}, `People (${number(users.length)})`),
    users.length === 0
      ? h("p", { class: "muted small" }, "No partner users: no confirmed member of a linked group and no user linked to a contact.")
      : h("div", { class: "table-wrap" }, h("table", { class: "plain people-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Email"), h("th", {}, "Membership"),
          h("th", {}, "Certifications"))),
        h("tbody", {}, ...shown.map(personRow)))),
    h("p", { class: "muted small hint", id: "people-more" },
      ...pager(partnerView.peoplePage, pages, `${number(users.length)} people`, go, "people-more")),
  ];
}

function personRow(u) {
  const name = [u.first_name, u.last_name].filter(Boolean).join(" ");
  return h("tr", { "data-user": u.lms_user_id },
    h("td", {}, name || h("span", { class: "muted" }, "(no name)"), h("div", { class: "muted small" }, u.lms_user_id)),
    h("td", { class: "email" }, u.email || h("span", { class: "muted" }, "–")),
    h("td", {}, h("span", { class: u.membership === "both" ? "tag manual" : "tag", title: MEMBERSHIP[u.membership] }, u.membership)),
    h("td", {}, u.certifications.length
      ? h("ul", { class: "certs" }, ...u.certifications.map(certification))
      : h("span", { class: "muted" }, "no completed course")));
}

function certification(c) {
  const expired = c.expires_at && new Date(c.expires_at).getTime() <= Date.now();
  const expiry = !c.expires_at ? "never expires" : `${expired ? "expired" : "expires"} ${day(c.expires_at)}`;
  return h("li", { class: c.counted ? "cert" : "cert not-counted", "data-course": c.course_id },
    h("span", { class: "cert-name", title: `completed ${localTime(c.completed_at)}` }, c.course_name || c.course_id), " ",
    h("span", { class: "muted small" }, `${number(c.npcu_value)} NPCU`), " ",
    c.counted ? h("span", { class: "tag ok" }, "counted")
      : h("span", { class: "tag bad" }, `not counted: ${c.not_counted_reason || "unknown"}`), " ",
    c.course_retired ? [h("span", { class: "tag", title: "the course left the catalog; the certification counts until it expires" },
      "retired course"), " "] : null,
    h("span", { class: "muted small expiry" }, expiry));
}

// ---------------------------------------------------------------- partner links

let linksTimer = null;
const LINKS_PAGE = 25;
let linksPage = 0;
let links = [];

async function loadLinks() {
  const params = new URLSearchParams({ limit: "5000" });
  if ($("links-q").value.trim()) params.set("q", $("links-q").value.trim());
  if ($("links-unlinked").checked) params.set("unlinked", "true");
  links = await api(`/api/links?${params}`);
  renderLinks();
}

function linksPager(pages) {
  const go = (page) => { linksPage = page; renderLinks(); };
  return pager(linksPage, pages, `${number(links.length)} groups`, go, "links-more");
}

function renderLinks() {
  const body = $("links").tBodies[0];
  const pages = Math.max(1, Math.ceil(links.length / LINKS_PAGE));
  linksPage = Math.min(linksPage, pages - 1);
  $("links-more").replaceChildren(...linksPager(pages));
  if (links.length === 0) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No groups match (run sync_groups first?).")));
    return;
  }
  const shown = links.slice(linksPage * LINKS_PAGE, (linksPage + 1) * LINKS_PAGE);
  body.replaceChildren(...shown.map((link) => h("tr", { "data-group": link.group_id },
    h("td", {}, link.group_name, h("div", { class: "muted small" }, link.group_id)),
    h("td", {}, state.linking === link.group_id ? partnerPicker(link) :
      link.partner_name || (link.partner_id ? `partner ${link.partner_id}` : h("span", { class: "muted" }, "—"))),
    h("td", {}, link.link ? h("span", { class: `tag ${link.link}` }, link.link) : h("span", { class: "muted" }, "unlinked")),
    h("td", { class: "num" },
      h("button", { class: "small", type: "button",
        onclick: () => { state.linking = state.linking === link.group_id ? null : link.group_id; guard(loadLinks()); } },
        state.linking === link.group_id ? "Cancel" : "Link…"), " ",
      link.partner_id ? h("button", { class: "small danger", type: "button",
        onclick: () => guard(clearLink(link.group_id)) }, "Clear") : null))));
}

function partnerPicker(link) {
  const results = h("div", { class: "picker-results" });
  const input = h("input", { type: "search", placeholder: "Partner name or Impartner id", "aria-label": "partner" });
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => guard(api(`/api/partners?q=${encodeURIComponent(input.value)}&limit=12`).then((page) => {
      results.replaceChildren(...page.items.map((p) => h("button", { type: "button",
        onclick: () => guard(setLink(link.group_id, p.id)) },
        `${p.name || "(no name)"} · ${p.impartner_id}${p.is_active ? "" : " · inactive"}`)));
    })), 250);
  });
  setTimeout(() => input.focus(), 0);
  return h("div", { class: "picker" }, input, results);
}

async function setLink(groupId, partnerId) {
  await api(`/api/links/${encodeURIComponent(groupId)}`, { method: "PUT", body: { partner_id: partnerId } });
  state.linking = null;
  toast("Linked (manual links are never changed by the matcher)");
  await loadLinks();
}

async function clearLink(groupId) {
  await api(`/api/links/${encodeURIComponent(groupId)}`, { method: "DELETE" });
  toast("Link cleared; automatic matching applies again");
  await loadLinks();
}

// ---------------------------------------------------------------- suggestions

async function loadSuggestions() {
  const params = new URLSearchParams({ limit: "100" });
  if ($("suggestions-status").value) params.set("status", $("suggestions-status").value);
  const page = await api(`/api/suggestions?${params}`);
  $("suggestions-run").textContent = page.run_id ? `analysis run ${page.run_id} · ${number(page.total)} shown by filter` : "";
  $("suggestions-more").textContent = page.total > page.suggestions.length ? `Showing ${page.suggestions.length} of ${number(page.total)}.` : "";
  const body = $("suggestions").tBodies[0];
  if (page.suggestions.length === 0) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty" },
      page.run_id ? "Nothing here." : "No analysis yet: run group_analysis.")));
    return;
  }
  body.replaceChildren(...page.suggestions.map((sg) => h("tr", { "data-suggestion": sg.id },
    h("td", {}, sg.group_name || sg.group_id),
    h("td", {}, sg.email || sg.user_id),
    h("td", {}, sg.email_domain || "–"),
    h("td", { class: "small" }, sg.evidence || "–"),
    h("td", {}, h("span", { class: `tag ${sg.status === "accepted" ? "manual" : ""}` }, sg.status)),
    h("td", { class: "num" }, sg.status === "open" ? [
      h("button", { class: "small primary", type: "button", onclick: () => guard(decide("accept", sg.id)) }, "Accept"), " ",
      h("button", { class: "small", type: "button", onclick: () => guard(decide("dismiss", sg.id)) }, "Dismiss"),
    ] : null))));
}

async function decide(verb, id) {
  const decision = await api(`/api/suggestions/${verb}`, { method: "POST", body: { ids: [id] } });
  toast(verb === "accept"
    ? (decision.already.length ? "Already a member" : "Added as a pending member; group_members_sync will write it")
    : "Dismissed");
  await loadSuggestions();
}

// ---------------------------------------------------------------- access changes

async function loadAccess() {
  const params = new URLSearchParams({ limit: "50" });
  if ($("access-action").value) params.set("action", $("access-action").value);
  const page = await api(`/api/access/audit?${params}`);
  $("access-total").textContent = page.total ? `${number(page.total)} write${page.total === 1 ? "" : "s"}` : "";
  const body = $("access").tBodies[0];
  if (page.items.length === 0) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "empty" },
      "No membership writes yet: group_members_sync makes them.")));
    return;
  }
  body.replaceChildren(...page.items.map((c) => h("tr", { "data-access": c.id },
    h("td", { title: localTime(c.at) }, shortTime(c.at)),
    h("td", { class: "num" }, c.run_id ? `#${c.run_id}` : "–"),
    h("td", {}, h("span", { class: `tag ${c.action === "add" ? "ok" : "warn"}` }, c.action), " ",
      h("span", { class: "muted small" }, `${c.cause} · ${c.decided_by}`)),
    h("td", {}, c.group_name || c.group_id),
    h("td", {}, c.email || c.user_id),
    h("td", { class: "small" }, c.reason),
    h("td", { class: "small" }, c.outcome === "done" ? c.answer : h("b", { style: "color:var(--bad)" }, c.answer)))));
}

// ---------------------------------------------------------------- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("refresh").addEventListener("click", () => guard(refreshAll()));
  $("history-task").addEventListener("change", () => guard(loadHistory()));
  $("history-status").addEventListener("change", () => guard(loadHistory()));
  $("links-unlinked").addEventListener("change", () => { linksPage = 0; guard(loadLinks()); });
  $("links-q").addEventListener("input", () => { clearTimeout(linksTimer); linksTimer = setTimeout(() => { linksPage = 0; guard(loadLinks()); }, 250); });
  $("suggestions-status").addEventListener("change", () => guard(loadSuggestions()));
  $("access-action").addEventListener("change", () => guard(loadAccess()));
  const partnersAgain = () => { partnerView.page = 0; guard(loadPartners()); };
  $("partners-q").addEventListener("input", () => { clearTimeout(partnerView.timer); partnerView.timer = setTimeout(partnersAgain, 250); });
  $("partners-tier").addEventListener("change", partnersAgain);
  $("partners-active").addEventListener("change", partnersAgain);
  $("partners-csv").addEventListener("click", (event) =>
    guard(download(`/api/partners.csv?${partnerFilters()}`, "partners.csv", event.currentTarget)));
  for (const th of document.querySelectorAll("#partners th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => sortPartners(th.dataset.sort, th.dataset.first));
  }
  loadHealth();
  if (sessionStorage.getItem(TOKEN_KEY)) start();
  else showLogin();
});
