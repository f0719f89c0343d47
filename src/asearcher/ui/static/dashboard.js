// Run dashboard: training curves from <run>/metrics.jsonl (GET /api/metrics), re-read from the last byte
// offset every few seconds while the run is live.
import {chart} from "./charts.js";
import {api, clear, fmt} from "./util.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;

// Panels of named metrics (those a run does not log are left out); every other metric is drawn under
// "All metrics".
export const PANELS = [
  {title: "Reward", keys: ["reward/mean"]},
  {title: "Accuracy", keys: ["reward/score_mean", "reward/format_mean", "reward/answered"], prefixes: ["eval/"]},
  {title: "Turns per trajectory", keys: ["rollout/turns_mean", "rollout/searches_mean", "rollout/accesses_mean", "rollout/turns_max"]},
  {title: "Tokens", keys: ["rollout/output_tokens_mean", "rollout/seq_len_mean", "rollout/seq_len_max"]},
  {title: "Staleness (versions behind)", keys: ["rollout/staleness_mean", "rollout/staleness_max", "rollout/sample_staleness_max"]},
  {title: "Step time breakdown (s)", keys: ["time/wait_rollout_s", "time/prox_s", "time/train_s", "time/sync_s", "time/checkpoint_s"], stacked: true, unit: " s"},
  {title: "Loss and gradient norm", keys: ["train/loss", "train/grad_norm"]},
];

const state = {path: null, offset: 0, rows: [], timer: null, busy: false};

export function initDashboard() {
  $("live").addEventListener("change", schedule);
}

/** Show the run at `path` (resets the curves). */
export function showDashboard(path) {
  if (state.path !== path) Object.assign(state, {path, offset: 0, rows: []});
  refresh();
}

export function hideDashboard() {
  clearTimeout(state.timer);
  state.timer = null;
}

function schedule() {
  clearTimeout(state.timer);
  if ($("live").checked && !$("dashboard-pane").hidden && state.path) state.timer = setTimeout(refresh, POLL_MS);
}

async function refresh() {
  if (!state.path || state.busy) return;
  state.busy = true;
  const path = state.path;
  try {
    const r = await api(`/api/metrics?path=${encodeURIComponent(path)}&offset=${state.offset}`);
    if (path !== state.path) return;
    if (r.reset) state.rows = [];
    const changed = r.rows.length > 0 || r.reset || !$("charts").childElementCount;
    state.rows.push(...r.rows);
    state.offset = r.offset;
    if (changed) draw();
    const last = state.rows[state.rows.length - 1];
    $("dash-status").textContent = last
      ? `${state.rows.length} steps logged; last step ${last.step} at ${new Date(last.time * 1000).toLocaleTimeString()}`
      : "no metrics.jsonl rows yet";
    $("dash-status").className = "status";
  } catch (err) {
    $("dash-status").textContent = err.message;
    $("dash-status").className = "status error";
  } finally {
    state.busy = false;
    schedule();
  }
}

function seriesOf(key) {
  return {name: key, points: state.rows.filter((r) => typeof r[key] === "number").map((r) => [r.step, r[key]])};
}

function draw() {
  const keys = new Set(state.rows.flatMap((r) => Object.keys(r)));
  keys.delete("step"); keys.delete("time");
  const used = new Set();
  const main = clear($("charts"));
  for (const p of PANELS) {
    const names = [...p.keys.filter((k) => keys.has(k)),
      ...[...keys].filter((k) => (p.prefixes || []).some((pre) => k.startsWith(pre))).sort()];
    if (!names.length) continue;
    names.forEach((k) => used.add(k));
    main.appendChild(chart({title: p.title, series: names.map(seriesOf), stacked: p.stacked, unit: p.unit}));
  }
  if (!main.childElementCount) main.appendChild(chart({title: "metrics", series: []}));
  const rest = [...keys].filter((k) => !used.has(k)).sort();
  $("more-charts-box").querySelector("summary").textContent = `All other metrics (${fmt(rest.length)})`;
  const more = clear($("more-charts"));
  for (const k of rest) more.appendChild(chart({title: k, series: [seriesOf(k)]}));
}
