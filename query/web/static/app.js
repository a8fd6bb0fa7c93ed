// zlog's web UI: the query API (/api/v1/…) read from the browser. The URL
// holds the whole state (q, range or from/to, utc, live), so a link
// shares a view; everything else is derived from it.
import { api, ApiError, Unauthorized, setToken, streamLines } from "/ui/api.js";
import { drawHistogram, drawChart } from "/ui/charts.js";

const $ = (id) => document.getElementById(id);
const pageSize = 100;
const relative = { "5m": 300e3, "15m": 900e3, "1h": 3600e3, "6h": 21600e3, "24h": 86400e3, "7d": 604800e3 };
const levels = ["trace", "debug", "info", "warn", "error", "fatal"];

let run = 0;            // the current search; older ones stop drawing
let shown = new Set();  // ids of the events listed
let oldest = null;      // time of the oldest event listed, for paging
let atOldest = 0;       // how many listed events have that time
let follow = null;      // AbortController of the live stream
let pending = [];       // live events held while the user reads further down, at most maxPending
let unheld = 0;         // live events past maxPending: counted, shown by searching again
const maxPending = 1000;
let latestTime = null;  // time of the newest event listed, where live continues

function state() {
  const p = new URLSearchParams(location.search);
  return {
    q: p.get("q"), range: p.get("range") || "1h", from: p.get("from"), to: p.get("to"),
    utc: p.get("utc") === "1", live: p.get("live") === "1",
  };
}

function setState(s, replace) {
  const p = new URLSearchParams();
  p.set("q", s.q || "");
  if (s.from && s.to) { p.set("from", s.from); p.set("to", s.to); } else { p.set("range", s.range || "1h"); }
  if (s.utc) p.set("utc", "1");
  if (s.live) p.set("live", "1");
  const url = "?" + p.toString();
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  render();
}

// window is the state's time range as absolute instants (ms).
function window_(s) {
  if (s.from && s.to) return { since: Date.parse(s.from), until: Date.parse(s.to) };
  const until = Date.now();
  return { since: until - (relative[s.range] || relative["1h"]), until };
}

function zone(s) {
  return s.utc ? "" : Intl.DateTimeFormat().resolvedOptions().timeZone;
}

// iso is an instant as the API takes it: ms since the epoch, or an RFC 3339
// time already (an event's, with its nanoseconds).
const iso = (t) => (typeof t === "string" ? t : new Date(t).toISOString());

function params(s, w, extra) {
  const p = { since: iso(w.since), until: iso(w.until) };
  if (s.q && s.q.trim()) p.q = s.q.trim();
  Object.assign(p, extra);
  const tz = zone(s);
  if (tz && p.q) p.tz = tz;
  return p;
}

function fmtTime(t, utc) {
  // t is RFC 3339 with nanoseconds; Date keeps milliseconds, the rest is shown as is.
  const d = new Date(t);
  const frac = (t.match(/\.(\d+)/) || [, "0"])[1].padEnd(3, "0").slice(0, 6);
  const pad = (n, k = 2) => String(n).padStart(k, "0");
  if (utc) return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${frac}Z`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${frac}`;
}

function eventID(ev) { return `${ev.publisher || ""}/${ev.service}.${ev.level}/${ev.seq || 0}`; }

function showError(err) {
  const box = $("error");
  const caret = $("caret");
  caret.hidden = true;
  if (!err) { box.hidden = true; return; }
  box.textContent = err.message;
  box.hidden = false;
  const m = /position (\d+)/.exec(err.message);
  if (m && err instanceof ApiError && err.status === 400) {
    caret.textContent = " ".repeat(Math.max(0, Number(m[1]) - 1)) + "^";
    caret.hidden = false;
  }
}

function fail(err) {
  if (err instanceof Unauthorized) { $("login").hidden = false; return; }
  if (err.name === "AbortError") return;
  showError(err);
}

// render draws the view the URL asks for.
async function render() {
  const s = state();
  const id = ++run;
  stopFollow();
  showError(null);
  $("q").value = s.q || "";
  $("utc").checked = s.utc;
  $("follow").checked = s.live;
  $("range").value = s.from && s.to ? "abs" : s.range;
  $("absolute").hidden = !(s.from && s.to);
  if (s.from && s.to) { $("from").value = toInput(s.from, s.utc); $("to").value = toInput(s.to, s.utc); }
  for (const v of ["overview", "results-view", "table-view"]) $(v).hidden = true;
  $("histogram").replaceChildren(); // nothing of the last query stays on screen
  $("chart").replaceChildren();
  try {
    if (s.q === null) return await overview(s, id);
    if (s.q.includes("|")) return await tableView(s, id);
    await eventsView(s, id);
  } catch (err) { fail(err); }
}

function toInput(iso, utc) {
  const d = new Date(iso);
  const local = new Date(utc ? d.getTime() : d.getTime() - d.getTimezoneOffset() * 60e3);
  return local.toISOString().slice(0, 19);
}

function fromInput(v, utc) {
  if (!v) return null;
  return new Date(utc ? v + "Z" : v).toISOString();
}

async function overview(s, id) {
  const w = window_(s);
  const [svc, lv] = await Promise.all([
    api("/api/v1/stats", { since: new Date(w.since).toISOString(), until: new Date(w.until).toISOString(), by: "service" }).then((r) => r.json()),
    api("/api/v1/stats", { since: new Date(w.since).toISOString(), until: new Date(w.until).toISOString(), by: "level" }).then((r) => r.json()),
  ]);
  if (id !== run) return;
  $("overview").hidden = false;
  $("overview-range").textContent = `(${$("range").selectedOptions[0].textContent.toLowerCase()})`;
  countTable($("services"), "service", svc.rows, (k) => `service:="${k}"`, s);
  countTable($("levels"), "level", lv.rows, (k) => `level:${k}`, s);
}

function countTable(table, name, rows, filter, s) {
  const max = Math.max(1, ...rows.map((r) => r.count));
  table.replaceChildren(el("tr", {}, el("th", {}, name), el("th", {}, "events"), el("th", {}, "last seen")));
  for (const r of rows) {
    const link = el("a", { href: "?" + new URLSearchParams({ q: filter(r.key), range: s.range }) }, r.key);
    link.addEventListener("click", (e) => { e.preventDefault(); setState({ ...s, q: filter(r.key) }); });
    table.append(el("tr", {}, el("td", {}, link),
      el("td", { class: "num" }, r.count.toLocaleString(), el("span", { class: "bar", style: `width:${(100 * r.count / max).toFixed(1)}px` })),
      el("td", { class: "muted" }, fmtTime(r.last, s.utc))));
  }
}

// bucketFor picks a round bucket giving about 60 bars over span ms.
function bucketFor(span) {
  const steps = [["1s", 1e3], ["5s", 5e3], ["10s", 10e3], ["30s", 30e3], ["1m", 60e3], ["5m", 300e3], ["10m", 600e3],
    ["30m", 1800e3], ["1h", 3600e3], ["3h", 10800e3], ["6h", 21600e3], ["12h", 43200e3], ["1d", 86400e3]];
  for (const [name, ms] of steps) if (span / ms <= 90) return [name, ms];
  return ["1d", 86400e3];
}

async function eventsView(s, id) {
  const w = window_(s);
  const filter = s.q && s.q.trim() ? s.q.trim() : "*";
  const [step, stepMs] = bucketFor(w.until - w.since);
  // The count first: a bad query fails there, once.
  const { count } = await (await api("/api/v1/count", params(s, w))).json();
  if (id !== run) return;
  $("results-view").hidden = false;
  $("count").textContent = `${count.toLocaleString()} event${count === 1 ? "" : "s"}`;
  $("events").replaceChildren();
  $("new-events").hidden = true;
  shown = new Set(); oldest = null; atOldest = 0; pending = []; unheld = 0; latestTime = null;
  const hist = api("/api/v1/query", params(s, w, { q: `${filter} | stats by (_time:${step}, level) count() as n` }))
    .then((r) => r.json())
    .then((t) => { if (id === run) drawHistogram($("histogram"), t, w, stepMs, s.utc, levels, (from, to) => zoom(s, from, to)); });
  await loadEvents(s, w.since, w.until, id);
  await hist;
  if (s.live) startFollow(s, id);
}

// loadEvents lists up to a page of events, newest first, from until back.
// until is inclusive, so the next page starts at the oldest time listed
// and skips the events of that time already listed: a page boundary inside
// a run of events of one nanosecond neither repeats them nor stalls.
async function loadEvents(s, since, until, id, skip = 0) {
  const w = { since, until };
  const limit = pageSize + skip;
  const res = await api("/api/v1/search", params(s, w, { limit: String(limit) }));
  let n = 0;
  const list = $("events");
  await streamLines(res, (ev) => {
    if (id !== run || ev.error) { if (ev.error) throw new ApiError(ev.error, 500); return; }
    n++;
    if (skip > 0 && ev.time === until) { skip--; return; }
    const key = eventID(ev);
    if (ev.seq && shown.has(key)) return;
    shown.add(key);
    list.append(eventItem(ev, s));
    if (ev.time === oldest) atOldest++; else { oldest = ev.time; atOldest = 1; }
    latestTime = latestTime || ev.time;
  });
  if (id !== run) return;
  $("older").hidden = n < limit;
  $("shown").textContent = `${list.children.length.toLocaleString()} shown`;
}

function eventItem(ev, s, hit) {
  const li = el("li", { class: hit ? "hit" : "", "data-id": eventID(ev) },
    el("span", { class: "t" }, fmtTime(ev.time, s.utc)), " ",
    el("span", { class: `lv lv-${ev.level}` }, ev.level), " ",
    el("span", { class: "svc" }, ev.service), " ",
    ev.host ? el("span", { class: "muted" }, ev.host + " ") : "",
    el("span", { class: "msg" }, ev.message));
  li.addEventListener("click", (e) => {
    if (e.target.closest(".fields")) return;
    const open = li.querySelector(".fields");
    if (open) { open.remove(); return; }
    li.append(details(ev, s));
  });
  return li;
}

// details is an event's fields, each value a filter to add or exclude.
function details(ev, s) {
  const t = el("table", { class: "fields" });
  const rows = [["service", ev.service], ["level", ev.level], ["host", ev.host], ["publisher", ev.publisher]];
  for (const [k, v] of Object.entries(ev.labels || {})) rows.push([k, v]);
  for (const [k, v] of Object.entries(ev.fields || {})) rows.push([k, v]);
  for (const [k, v] of rows) {
    if (v === undefined || v === "") continue;
    const add = el("button", { title: "Filter on this value", "data-filter": k }, "+");
    const drop = el("button", { title: "Exclude this value", "data-exclude": k }, "−");
    add.addEventListener("click", () => addFilter(s, condition(k, v)));
    drop.addEventListener("click", () => addFilter(s, "-" + condition(k, v)));
    t.append(el("tr", {}, el("td", {}, k), el("td", {}, String(v), add, drop)));
  }
  const ctx = el("button", { title: "Events of the same stream around this one" }, "context");
  ctx.addEventListener("click", () => openContext(ev, s));
  t.append(el("tr", {}, el("td", {}, "id"), el("td", {}, eventID(ev), " ", ctx)));
  return t;
}

function condition(k, v) {
  if (k === "level") return `level:=${v}`;
  return typeof v === "number" || typeof v === "boolean" ? `${k}:=${v}` : `${k}:=${JSON.stringify(String(v))}`;
}

function addFilter(s, cond) {
  const q = (s.q || "").trim();
  setState({ ...s, q: q && q !== "*" ? `${q} ${cond}` : cond });
}

function zoom(s, from, to) {
  setState({ ...s, from: new Date(from).toISOString(), to: new Date(to).toISOString(), live: false });
}

// countColumns names the count() columns of a query's stats: the default
// name and each alias, so that a chart knows which to draw as 0 when a
// bucket is missing.
function countColumns(q) {
  const names = new Set(["count()"]);
  for (const m of (q || "").matchAll(/count\(\)\s+as\s+("[^"]*"|[\w.]+)/g)) names.add(m[1].replace(/^"|"$/g, ""));
  return names;
}

// bucketOf is the bucket of a query's `by (_time:STEP)` in ms, or
// undefined when it names none (or one this page cannot read).
function bucketOf(q) {
  const m = (q || "").match(/_time:((?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+)/);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 };
  let ms = 0;
  for (const [, n, u] of m[1].matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) ms += Number(n) * unit[u];
  return ms || undefined;
}

async function tableView(s, id) {
  const w = window_(s);
  const t = await (await api("/api/v1/query", params(s, w, { limit: "0" }))).json();
  if (id !== run) return;
  $("table-view").hidden = false;
  const chart = $("chart");
  chart.replaceChildren();
  chart.hidden = !(t.columns[0] === "_time" && t.rows.length);
  if (!chart.hidden) drawChart(chart, t, s.utc, levels, countColumns(s.q), bucketOf(s.q));
  const numeric = t.columns.length - 1;
  const max = Math.max(1, ...t.rows.map((r) => (typeof r[numeric] === "number" ? r[numeric] : 0)));
  const table = $("table");
  table.replaceChildren(el("tr", {}, ...t.columns.map((c) => el("th", {}, c))));
  for (const r of t.rows) {
    table.append(el("tr", {}, ...r.map((v, i) => {
      if (typeof v !== "number") return el("td", {}, v === null ? "" : (i === 0 && t.columns[0] === "_time" ? fmtTime(v, s.utc) : String(v)));
      const td = el("td", { class: "num" }, v.toLocaleString());
      if (i === numeric && t.columns[0] !== "_time") td.append(el("span", { class: "bar", style: `width:${(120 * v / max).toFixed(1)}px` }));
      return td;
    })));
  }
}

// Live: the follow endpoint continues the query from the newest event
// shown, gaplessly (the collector joins the index and the live stream);
// repeats of what is listed are dropped by id.
function startFollow(s, id) {
  stopFollow();
  follow = new AbortController();
  const p = params(s, { since: latestTime || Date.now(), until: 0 });
  delete p.until;
  $("live-note").textContent = "live";
  api("/api/v1/follow", p, follow.signal)
    .then((res) => streamLines(res, (ev) => {
      if (id !== run) return;
      if (ev.notice) { $("live-note").textContent = "live — " + ev.notice; return; }
      if (ev.error) throw new ApiError(ev.error, 500);
      const key = eventID(ev);
      if (ev.seq && shown.has(key)) return;
      shown.add(key);
      if (window.scrollY > 40) {
        if (pending.length < maxPending) pending.push(ev); else unheld++;
        showPending();
        return;
      }
      prepend(ev, s);
    }))
    .then(() => { if (id === run) $("live-note").textContent = "live stream ended"; })
    .catch((err) => { if (id === run) fail(err); });
}

function prepend(ev, s) {
  $("events").prepend(eventItem(ev, s));
  latestTime = ev.time;
  const n = Number(($("count").textContent.match(/[\d,]+/) || ["0"])[0].replace(/,/g, "")) + 1;
  $("count").textContent = `${n.toLocaleString()} event${n === 1 ? "" : "s"}`;
}

function showPending() {
  const b = $("new-events");
  const n = pending.length + unheld;
  b.textContent = `${n} new event${n === 1 ? "" : "s"} — ${unheld ? "search again to show them" : "show"}`;
  b.hidden = false;
}

// flushPending lists the held events; past maxPending the page holds no
// more of them (a busy stream left for an hour would fill the tab's
// memory) and searches again instead, from the index, which has them all.
function flushPending() {
  if (unheld) {
    unheld = 0;
    pending = [];
    $("new-events").hidden = true;
    window.scrollTo({ top: 0 });
    render();
    return;
  }
  const s = state();
  for (const ev of pending) prepend(ev, s);
  pending = [];
  $("new-events").hidden = true;
  window.scrollTo({ top: 0 });
}

function stopFollow() {
  if (follow) follow.abort();
  follow = null;
  $("live-note").textContent = "";
}

async function openContext(ev, s) {
  const res = await api("/api/v1/context", { id: eventID(ev), before: "10", after: "10" }).catch(fail);
  if (!res) return;
  const c = await res.json();
  const list = $("context-events");
  list.replaceChildren();
  for (const e of c.before || []) list.append(eventItem(e, s));
  list.append(eventItem(c.event, s, true));
  for (const e of c.after || []) list.append(eventItem(e, s));
  $("context").hidden = false;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== "") e.setAttribute(k, v);
  for (const c of children) if (c !== "" && c !== null && c !== undefined) e.append(c);
  return e;
}

function submit(e) {
  e.preventDefault();
  const s = state();
  const range = $("range").value;
  const next = { q: $("q").value, utc: $("utc").checked, live: $("follow").checked, range: s.range };
  if (range === "abs") {
    next.from = fromInput($("from").value, next.utc) || s.from;
    next.to = fromInput($("to").value, next.utc) || s.to;
  } else {
    next.range = range;
  }
  setState(next);
}

function init() {
  $("search").addEventListener("submit", submit);
  $("range").addEventListener("change", () => {
    if ($("range").value === "abs") {
      const w = window_(state());
      $("from").value = toInput(new Date(w.since).toISOString(), $("utc").checked);
      $("to").value = toInput(new Date(w.until).toISOString(), $("utc").checked);
      $("absolute").hidden = false;
      return;
    }
    $("search").requestSubmit();
  });
  $("utc").addEventListener("change", () => $("search").requestSubmit());
  $("follow").addEventListener("change", () => $("search").requestSubmit());
  $("older").addEventListener("click", async () => {
    const s = state();
    const w = window_(s);
    try { await loadEvents(s, w.since, oldest, run, atOldest); } catch (err) { fail(err); }
  });
  $("new-events").addEventListener("click", flushPending);
  $("context-close").addEventListener("click", () => { $("context").hidden = true; });
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("token").value);
    $("login").hidden = true;
    render();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement !== $("q")) { e.preventDefault(); $("q").focus(); }
    if (e.key === "Escape") $("context").hidden = true;
  });
  window.addEventListener("scroll", () => { if (window.scrollY <= 40 && (pending.length || unheld)) flushPending(); });
  window.addEventListener("popstate", render);
  render();
}

init();
