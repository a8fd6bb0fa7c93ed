// Charts drawn as SVG in the container's own pixels: the histogram of
// matches stacked by level (drag to zoom), and a line per series for a
// `| stats by (_time:…)` table.
const svgNS = "http://www.w3.org/2000/svg";
let endDrag = null; // the histogram's mouseup listener on the window
const palette = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function tickLabel(ms, span, utc) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  const [h, m, day, mon] = utc ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCDate(), d.getUTCMonth() + 1]
    : [d.getHours(), d.getMinutes(), d.getDate(), d.getMonth() + 1];
  return span > 2 * 86400e3 ? `${mon}-${pad(day)} ${pad(h)}:${pad(m)}` : `${pad(h)}:${pad(m)}`;
}

// drawHistogram draws t (columns _time, level, n) over the window w in
// buckets of stepMs; a drag calls onZoom(fromMs, toMs).
export function drawHistogram(box, t, w, stepMs, utc, levels, onZoom) {
  const width = box.clientWidth || 800, height = box.clientHeight || 90, axis = 14;
  const span = w.until - w.since;
  const x = (ms) => ((ms - w.since) / span) * width;
  const buckets = new Map(); // bucket start → {level: n}
  for (const [time, level, n] of t.rows) {
    const at = Date.parse(time);
    const b = buckets.get(at) || {};
    b[level] = (b[level] || 0) + n;
    buckets.set(at, b);
  }
  const max = Math.max(1, ...[...buckets.values()].map((b) => Object.values(b).reduce((a, n) => a + n, 0)));
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, "data-buckets": String(buckets.size), role: "img", "aria-label": "Matches over time" });
  const bar = Math.max(1, x(w.since + stepMs) - 1);
  for (const [at, b] of buckets) {
    let y = height - axis;
    for (const level of levels) {
      if (!b[level]) continue;
      const h = (b[level] / max) * (height - axis - 4);
      y -= h;
      const r = svg("rect", { x: x(at).toFixed(1), y: y.toFixed(1), width: Math.max(1, Math.min(bar, width - x(at))).toFixed(1), height: h.toFixed(1), fill: `var(--${level})`, "data-level": level });
      r.append(svg("title", {}, `${new Date(at).toISOString()} ${level}: ${b[level]}`));
      plot.append(r);
    }
  }
  for (let i = 0; i <= 4; i++) {
    const ms = w.since + (span * i) / 4;
    plot.append(svg("text", { x: Math.min(width - 40, x(ms)).toFixed(0), y: height - 2, "font-size": 11, fill: "currentColor", opacity: 0.6 }, tickLabel(ms, span, utc)));
  }
  const sel = svg("rect", { y: 0, height: height - axis, fill: "currentColor", opacity: 0.12, width: 0, class: "selection" });
  plot.append(sel);
  let start = null;
  // The plot scales with its box (a scroll bar appearing, a resize), so
  // a pointer's offset is mapped from screen pixels to the plot's own.
  const at = (e) => {
    const r = plot.getBoundingClientRect();
    return Math.min(width, Math.max(0, ((e.clientX - r.left) * width) / r.width));
  };
  plot.addEventListener("mousedown", (e) => { start = at(e); sel.setAttribute("x", start); sel.setAttribute("width", 0); });
  plot.addEventListener("mousemove", (e) => {
    if (start === null) return;
    const now = at(e);
    sel.setAttribute("x", Math.min(start, now));
    sel.setAttribute("width", Math.abs(now - start));
  });
  // A drag may end outside the plot, so the window hears its end; one
  // listener at a time, the last histogram's.
  if (endDrag) window.removeEventListener("mouseup", endDrag);
  endDrag = (e) => {
    if (start === null) return;
    const end = at(e), a = Math.min(start, end), b = Math.max(start, end);
    start = null;
    if (b - a < 3) { sel.setAttribute("width", 0); return; }
    onZoom(w.since + (a / width) * span, w.since + (b / width) * span);
  };
  window.addEventListener("mouseup", endDrag);
  box.replaceChildren(plot);
}

// drawChart draws a line per series of a table whose first column is
// _time: the columns before the first number name the series (a level
// in its colour). A bucket (stepMs, else the smallest step between the
// table's times) a series lacks is never bridged: counts (the columns
// named in counts) drop to 0 there, other values break their line.
export function drawChart(box, t, utc, levels, counts = new Set(), stepMs = undefined) {
  const width = box.clientWidth || 800, height = box.clientHeight || 220, axis = 16, legend = 16;
  const firstNum = t.columns.findIndex((c, i) => i > 0 && t.rows.some((r) => typeof r[i] === "number"));
  if (firstNum < 0) return;
  const series = new Map(); // name → [[ms, v]]
  for (const r of t.rows) {
    const key = r.slice(1, firstNum).join(" ");
    for (let i = firstNum; i < t.columns.length; i++) {
      if (typeof r[i] !== "number") continue;
      const name = [key, t.columns.length - firstNum > 1 ? t.columns[i] : ""].filter(Boolean).join(" ") || t.columns[i];
      if (!series.has(name)) series.set(name, { pts: [], count: counts.has(t.columns[i]) });
      series.get(name).pts.push([Date.parse(r[0]), r[i]]);
    }
  }
  const times = [...new Set(t.rows.map((r) => Date.parse(r[0])))].sort((a, b) => a - b);
  const step = stepMs || bucketStep(times);
  for (const sr of series.values()) sr.pts = withGaps(sr.pts, step, sr.count);
  const lo = Math.min(...times), hi = Math.max(...times), span = Math.max(1, hi - lo);
  const max = Math.max(1e-9, ...[...series.values()].flatMap((sr) => sr.pts.filter((p) => p).map(([, v]) => v)));
  const x = (ms) => 4 + ((ms - lo) / span) * (width - 8);
  const y = (v) => legend + (1 - v / max) * (height - axis - legend - 4);
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Chart", "data-series": String(series.size) });
  let i = 0, lx = 4;
  for (const [name, { pts }] of series) {
    const color = levels.includes(name) ? `var(--${name})` : palette[i % palette.length];
    i++;
    for (const run of runs(pts)) {
      const d = run.map(([ms, v]) => `${x(ms).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      plot.append(svg("polyline", { points: d, fill: "none", stroke: color, "stroke-width": 1.5 }));
    }
    for (const [ms, v] of pts.filter((p) => p)) {
      const c = svg("circle", { cx: x(ms).toFixed(1), cy: y(v).toFixed(1), r: 2, fill: color });
      c.append(svg("title", {}, `${new Date(ms).toISOString()} ${name}: ${v}`));
      plot.append(c);
    }
    plot.append(svg("text", { x: lx, y: 12, "font-size": 11, fill: color }, name));
    lx += 10 + 7 * name.length;
  }
  plot.append(svg("text", { x: 4, y: height - 3, "font-size": 11, fill: "currentColor", opacity: 0.6 }, tickLabel(lo, span, utc)));
  plot.append(svg("text", { x: width - 44, y: height - 3, "font-size": 11, fill: "currentColor", opacity: 0.6 }, tickLabel(hi, span, utc)));
  plot.append(svg("text", { x: width - 4, y: legend + 10, "font-size": 11, fill: "currentColor", opacity: 0.6, "text-anchor": "end" }, max.toLocaleString()));
  box.replaceChildren(plot);
}

// bucketStep is a table's bucket: the smallest step between its times.
function bucketStep(times) {
  let step = Infinity;
  for (let i = 1; i < times.length; i++) step = Math.min(step, times[i] - times[i - 1]);
  return step;
}

// withGaps puts a series' points in time order, marking each run of
// buckets it lacks: 0 for a count, a break in the line (null) otherwise.
function withGaps(pts, step, count) {
  pts.sort((a, b) => a[0] - b[0]);
  const out = [];
  for (const p of pts) {
    const prev = out[out.length - 1];
    if (prev && p[0] - prev[0] > 1.5 * step) {
      if (count) out.push([prev[0] + step, 0], [p[0] - step, 0]);
      else out.push(null);
    }
    out.push(p);
  }
  return out;
}

// runs splits points at their breaks (nulls) into lines.
function runs(pts) {
  const out = [[]];
  for (const p of pts) {
    if (p) out[out.length - 1].push(p);
    else if (out[out.length - 1].length) out.push([]);
  }
  return out.filter((r) => r.length);
}
