// Charts drawn as inline SVG (no chart library): line charts and stacked bars over training steps, with
// axes, a legend and a hover read-out. Labels are set with textContent.
import {el, fmt} from "./util.js";

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2f6fde", "#e8743b", "#19a979", "#945ecf", "#ed4a7b", "#13a4b4", "#bf399e", "#6c8893"];
const W = 460, H = 220, M = {left: 48, right: 12, top: 10, bottom: 24};

function svg(tag, attrs = {}) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) { const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1; lo -= pad; hi += pad; }
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((s) => s * mag).find((s) => s >= raw);
  const ticks = [];
  const first = Math.floor(lo / step + 1e-9) * step, last = Math.ceil(hi / step - 1e-9) * step;
  for (let v = first; v <= last + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return {lo: first, hi: last, ticks};
}

/**
 * Draw a chart into a new .chart element and return it.
 * spec: {title, series: [{name, points: [[step, value], ...]}], stacked: bool, unit: string}
 */
export function chart(spec) {
  const box = el("div", {className: "chart", dataset: {chart: spec.title}}, el("h3", {}, spec.title));
  const series = spec.series.filter((s) => s.points.length);
  if (!series.length) { box.appendChild(el("div", {className: "empty"}, "no data yet")); return box; }
  const steps = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const byStep = series.map((s) => new Map(s.points));
  const tops = spec.stacked
    ? steps.map((x) => byStep.reduce((acc, m) => acc + (m.get(x) ?? 0), 0))
    : series.flatMap((s) => s.points.map((p) => p[1]));
  const lows = spec.stacked ? [0] : tops;
  const y = niceTicks(Math.min(...lows), Math.max(...tops));
  const x0 = steps[0], x1 = steps[steps.length - 1];
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const band = spec.stacked ? pw / steps.length : 0;
  const sx = (v) => M.left + (spec.stacked ? (steps.indexOf(v) + 0.5) * band
    : (x1 === x0 ? pw / 2 : ((v - x0) / (x1 - x0)) * pw));
  const sy = (v) => M.top + ph - ((v - y.lo) / (y.hi - y.lo)) * ph;
  const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, role: "img"});
  axes(root, y, sy, steps, sx, pw);
  if (spec.stacked) stackedBars(root, series, byStep, steps, sx, sy, band);
  else series.forEach((s, i) => line(root, s, PALETTE[i % PALETTE.length], sx, sy));
  box.appendChild(root);
  box.appendChild(legend(series));
  hover(box, root, steps, series, byStep, sx, spec.unit || "");
  return box;
}

function axes(root, y, sy, steps, sx, pw) {
  for (const t of y.ticks) {
    root.appendChild(svg("line", {x1: M.left, x2: M.left + pw, y1: sy(t), y2: sy(t), stroke: "#eceef2"}));
    const label = svg("text", {x: M.left - 6, y: sy(t) + 3, "text-anchor": "end"});
    label.textContent = fmt(t);
    root.appendChild(label);
  }
  const xt = niceTicks(steps[0], steps[steps.length - 1], 6).ticks.filter((t) => t >= steps[0] && t <= steps[steps.length - 1]);
  const shown = xt.length ? xt : [steps[0]];
  for (const t of shown) {
    const near = steps.reduce((a, b) => (Math.abs(b - t) < Math.abs(a - t) ? b : a));
    const label = svg("text", {x: sx(near), y: H - 8, "text-anchor": "middle"});
    label.textContent = fmt(t);
    root.appendChild(label);
  }
  root.appendChild(svg("line", {x1: M.left, x2: M.left + pw, y1: H - M.bottom, y2: H - M.bottom, stroke: "#9aa3af"}));
}

function line(root, s, color, sx, sy) {
  const pts = s.points.map(([x, v]) => `${sx(x).toFixed(1)},${sy(v).toFixed(1)}`).join(" ");
  root.appendChild(svg("polyline", {points: pts, fill: "none", stroke: color, "stroke-width": 1.8,
    "stroke-linejoin": "round", "data-series": s.name}));
  if (s.points.length <= 40) {
    for (const [x, v] of s.points) root.appendChild(svg("circle", {cx: sx(x), cy: sy(v), r: 2.2, fill: color}));
  }
}

function stackedBars(root, series, byStep, steps, sx, sy, band) {
  const w = Math.max(1, band * 0.8);
  for (const x of steps) {
    let base = 0;
    byStep.forEach((m, i) => {
      const v = m.get(x) ?? 0;
      if (v <= 0) return;
      root.appendChild(svg("rect", {x: sx(x) - w / 2, width: w, y: sy(base + v), height: Math.max(0, sy(base) - sy(base + v)),
        fill: PALETTE[i % PALETTE.length], "data-series": series[i].name}));
      base += v;
    });
  }
}

function legend(series) {
  return el("div", {className: "legend"}, series.map((s, i) => el("span", {},
    swatch(PALETTE[i % PALETTE.length]), s.name)));
}

export function swatch(color) {
  const sw = el("span", {className: "swatch"});
  sw.style.background = color;
  return sw;
}

function hover(box, root, steps, series, byStep, sx, unit) {
  const cursor = svg("line", {y1: M.top, y2: H - M.bottom, stroke: "#555", "stroke-dasharray": "3 3", visibility: "hidden"});
  root.appendChild(cursor);
  const tip = el("div", {className: "tip", hidden: true});
  box.appendChild(tip);
  root.addEventListener("mousemove", (e) => {
    const r = root.getBoundingClientRect();
    const vx = ((e.clientX - r.left) / r.width) * W;
    const x = steps.reduce((a, b) => (Math.abs(sx(b) - vx) < Math.abs(sx(a) - vx) ? b : a));
    cursor.setAttribute("x1", sx(x)); cursor.setAttribute("x2", sx(x));
    cursor.setAttribute("visibility", "visible");
    tip.textContent = [`step ${x}`, ...series.map((s, i) => `${s.name}: ${fmt(byStep[i].get(x))}${unit}`)].join("\n");
    tip.hidden = false;
    const left = e.clientX - box.getBoundingClientRect().left + 12;
    tip.style.left = `${Math.min(left, box.clientWidth - tip.offsetWidth - 4)}px`;
    tip.style.top = "28px";
  });
  root.addEventListener("mouseleave", () => { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); });
}
