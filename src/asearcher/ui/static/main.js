// Entry point: loads the server's defaults, wires the three views and switches between them by the URL hash
// (#ask, #inspect, #dashboard). The run picker is shared by the inspector and the dashboard.
import {initAsk} from "./ask.js";
import {hideDashboard, initDashboard, showDashboard} from "./dashboard.js";
import {initInspector, showInspector} from "./inspector.js";
import {api, clear, el} from "./util.js";

const $ = (id) => document.getElementById(id);
const runs = {list: [], current: null, desc: null};

async function main() {
  let info;
  try {
    info = await api("/api/info");
  } catch (err) {
    $("server-error").textContent = `cannot reach the server: ${err.message}`;
    return;
  }
  initAsk(info);
  initInspector();
  initDashboard();
  runs.list = info.runs;
  fillRuns();
  $("run-select").addEventListener("change", () => selectRun($("run-select").value));
  $("run-open").addEventListener("click", openTyped);
  $("run-path").addEventListener("keydown", (e) => { if (e.key === "Enter") openTyped(); });
  window.addEventListener("hashchange", route);
  await route();
}

function fillRuns() {
  const sel = clear($("run-select"));
  if (!runs.list.length) sel.appendChild(el("option", {value: ""}, "(no run opened yet)"));
  for (const p of runs.list) sel.appendChild(el("option", {value: p, selected: p === runs.current}, p));
}

async function openTyped() {
  const path = $("run-path").value.trim();
  if (!path) return;
  try {
    const desc = await api("/api/runs/open", {json: {path}});
    if (!runs.list.includes(desc.path)) runs.list.push(desc.path);
    $("run-path").value = "";
    await selectRun(desc.path, desc);
  } catch (err) {
    status(err.message, true);
  }
}

function status(text, isError = false) {
  $("run-status").textContent = text;
  $("run-status").className = isError ? "status error" : "status";
}

async function selectRun(path, desc = null) {
  if (!path) return;
  try {
    runs.desc = desc || await api(`/api/run?path=${encodeURIComponent(path)}`);
  } catch (err) {
    status(err.message, true);
    return;
  }
  runs.current = path;
  fillRuns();
  const kinds = runs.desc.sources.map((s) => s.label).join(", ") || "no trajectories";
  status(`${kinds}${runs.desc.model ? ` · model ${runs.desc.model}` : ""}`);
  await showRunView();
}

async function showRunView() {
  const view = viewName();
  if (!runs.current) return;
  if (view === "inspect") await showInspector(runs.current, runs.desc);
  if (view === "dashboard") showDashboard(runs.current);
}

function viewName() {
  const h = location.hash.replace("#", "");
  return ["ask", "inspect", "dashboard"].includes(h) ? h : "ask";
}

async function route() {
  const view = viewName();
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.view === view);
  $("view-ask").hidden = view !== "ask";
  $("view-runs").hidden = view === "ask";
  $("inspect-pane").hidden = view !== "inspect";
  $("dashboard-pane").hidden = view !== "dashboard";
  if (view !== "dashboard") hideDashboard();
  if (view !== "ask" && !runs.current && runs.list.length) await selectRun(runs.list[0]);
  else await showRunView();
}

main();
