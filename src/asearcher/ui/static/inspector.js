// Trajectory inspector: list the trajectories of a run (GET /api/trajectories), open one
// (GET /api/trajectory) and show every LLM call token by token, coloured by loss mask, weight version or
// logprob, with a tooltip per token (id, mask, logprob, version).
import {renderTurn} from "./ask.js";
import {PALETTE, swatch} from "./charts.js";
import {api, clear, el, fmt, truncate} from "./util.js";

const $ = (id) => document.getElementById(id);
const state = {path: null, rows: [], sort: {key: "step", dir: 1}, detail: null, mode: "mask", ref: null};

const COLUMNS = [
  ["step", "step", true], ["id", "id", false], ["question", "question", false], ["answer", "answer", false],
  ["reward", "reward", true], ["score", "score", true], ["turns", "turns", true],
  ["output_tokens", "out tok", true], ["context_tokens", "ctx tok", true], ["versions", "versions", false],
  ["staleness", "staleness", true], ["finish", "finish", false],
];
const MODES = [["mask", "loss mask"], ["version", "weight version"], ["logprob", "logprob"]];

export function initInspector() {
  $("source-select").addEventListener("change", loadRows);
  $("traj-filter").addEventListener("input", drawTable);
}

/** Show the run at `path` (its sources, then the first source's trajectories). */
export async function showInspector(path, desc) {
  if (state.path === path && state.rows.length) return;
  state.path = path;
  const sel = clear($("source-select"));
  for (const s of desc.sources) sel.appendChild(el("option", {value: s.path}, s.label));
  clear($("traj-detail"));
  if (!desc.sources.length) {
    state.rows = [];
    drawTable();
    $("traj-count").textContent = "no trajectories in this folder";
    return;
  }
  await loadRows();
}

async function loadRows() {
  const source = $("source-select").value;
  $("traj-count").textContent = "loading…";
  try {
    const r = await api(`/api/trajectories?path=${encodeURIComponent(state.path)}&source=${encodeURIComponent(source)}`);
    state.rows = r.rows;
  } catch (err) {
    state.rows = [];
    $("traj-count").textContent = err.message;
    return;
  }
  drawTable();
}

function cell(row, key) {
  if (key === "versions") {
    if (row.version_min === null || row.version_min === undefined) return "–";
    return row.version_min === row.version_max ? String(row.version_min) : `${row.version_min}–${row.version_max}`;
  }
  const v = row[key];
  if (key === "question" || key === "answer") return truncate(v ?? "–", key === "question" ? 90 : 40);
  return fmt(v);
}

function drawTable() {
  const q = $("traj-filter").value.toLowerCase();
  const rows = state.rows.filter((r) => !q || [r.question, r.answer, r.id].some((s) => String(s ?? "").toLowerCase().includes(q)));
  const {key, dir} = state.sort;
  rows.sort((a, b) => {
    const x = a[key] ?? -Infinity, y = b[key] ?? -Infinity;
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  const head = el("tr", {}, COLUMNS.map(([k, label, num]) => el("th", {className: num ? "num" : "",
    onclick: () => { state.sort = {key: k, dir: state.sort.key === k ? -state.sort.dir : 1}; drawTable(); }},
  label + (state.sort.key === k ? (dir > 0 ? " ▲" : " ▼") : ""))));
  const body = el("tbody", {}, rows.map((r) => el("tr", {className: r.ref === state.ref ? "selected" : "",
    dataset: {ref: r.ref}, onclick: () => openTrajectory(r.ref)},
  COLUMNS.map(([k, , num]) => el("td", {className: num ? "num" : k === "question" ? "q" : ""}, cell(r, k))))));
  clear($("traj-table")).append(el("thead", {}, head), body);
  $("traj-count").textContent = `${rows.length} of ${state.rows.length}`;
}

async function openTrajectory(ref) {
  state.ref = ref;
  for (const tr of document.querySelectorAll("#traj-table tbody tr")) tr.classList.toggle("selected", tr.dataset.ref === ref);
  const box = clear($("traj-detail"));
  box.appendChild(el("div", {className: "panel"}, "loading…"));
  try {
    state.detail = await api(`/api/trajectory?path=${encodeURIComponent(state.path)}&ref=${encodeURIComponent(ref)}`);
  } catch (err) {
    clear(box).appendChild(el("div", {className: "panel error"}, err.message));
    return;
  }
  drawDetail();
}

function drawDetail() {
  const d = state.detail, m = d.meta, s = m.stats || {};
  const box = clear($("traj-detail"));
  const kv = (k, v) => el("span", {}, `${k} `, el("b", {}, v));
  box.appendChild(el("div", {className: "panel detail-head"},
    el("h2", {}, m.question ?? ""),
    el("div", {className: "kv"}, kv("gold", (m.gold || []).join(" | ") || "–"), kv("answer", m.answer ?? "–"),
      kv("reward", fmt(m.reward)), kv("score", fmt(m.score)), kv("format ok", fmt(m.format_ok)),
      kv("finish", s.finish ?? "–"), kv("calls", fmt(s.turns)), kv("searches", fmt(s.searches)),
      kv("accesses", fmt(s.accesses)), kv("output tokens", fmt(s.output_tokens)),
      m.step !== null ? kv("step", fmt(m.step)) : null,
      m.consumer_version !== null ? kv("trained at version", fmt(m.consumer_version)) : null,
      kv("tokenizer", d.tokenizer ?? "none (ids shown)")),
    m.error ? el("div", {className: "error"}, m.error) : null,
    el("details", {}, el("summary", {}, `readable turns (${d.turns.length})`),
      el("ol", {className: "timeline"}, d.turns.map(renderTurn)))));
  if (!d.tokens_saved) {
    box.appendChild(el("div", {className: "panel notice"},
      "Token ids were not saved for this trajectory (evaluate with eval.save_tokens=true to see them); call texts:"));
    for (const c of d.calls) {
      box.appendChild(el("details", {className: "call"}, el("summary", {},
        el("span", {className: "tag"}, `call ${c.index}`), `${c.purpose} · ${c.finish_reason} · in ${fmt(c.input_len)} · out ${fmt(c.output_len)}`),
      el("div", {className: "tokens"}, c.text)));
    }
    return;
  }
  box.appendChild(modeBar(d));
  const calls = el("div", {id: "calls"});
  d.calls.forEach((c) => calls.appendChild(renderCall(c)));
  box.appendChild(calls);
  recolor();
}

function versionsOf(d) {
  return [...new Set(d.calls.flatMap((c) => c.output.versions))].sort((a, b) => a - b);
}

function modeBar(d) {
  const radios = MODES.map(([value, label]) => el("label", {},
    el("input", {type: "radio", name: "colour-mode", value, checked: state.mode === value,
      onchange: () => { state.mode = value; recolor(); drawLegend(d); }}), ` ${label}`));
  return el("div", {className: "panel"}, el("div", {className: "modes"}, el("b", {}, "colour tokens by"), radios),
    el("div", {id: "legend", className: "legend"}, legendItems(d)));
}

function drawLegend(d) { clear($("legend")).append(...legendItems(d)); }

function legendItems(d) {
  const ctx = [swatch("#eceff3"), "prompt / tool tokens (loss mask 0)"];
  if (state.mode === "mask") return [el("span", {}, ...ctx), el("span", {}, swatch("#c9f0d6"), "sampled, trained (loss mask 1)")];
  if (state.mode === "version") {
    const vs = versionsOf(d);
    return [el("span", {}, ...ctx), ...vs.map((v) => el("span", {}, swatch(versionColor(v, vs)),
      v < 0 ? "no version (text-only engine)" : `version ${v}`))];
  }
  return [el("span", {}, ...ctx), el("span", {}, swatch(probColor(-3)), "p ≈ 0.05"),
    el("span", {}, swatch(probColor(-0.69)), "p ≈ 0.5"), el("span", {}, swatch(probColor(0)), "p = 1")];
}

function versionColor(v, all) {
  if (v < 0) return "#dddddd";
  const i = all.filter((x) => x >= 0).indexOf(v);
  const base = PALETTE[i % PALETTE.length];
  return base + "55"; // translucent, so the text stays readable
}

function probColor(lp) {
  const p = Math.exp(Math.max(-20, Math.min(0, lp)));
  return `hsl(${Math.round(120 * p)}, 70%, 82%)`;
}

function renderCall(c) {
  const tags = [el("span", {className: "tag"}, `call ${c.index}`), el("span", {className: "tag"}, c.purpose),
    el("span", {className: `tag${c.fork ? " fork" : ""}`}, c.fork ? `new training row ${c.row}` : `row ${c.row}`)];
  const facts = [`finish ${c.finish_reason}`, `prompt ${fmt(c.input_len)} (${fmt(c.shared)} shared, ${fmt(c.context.ids.length)} new)`,
    `output ${fmt(c.output.ids.length)}`, `mean logprob ${fmt(c.logprob_mean)}`,
    c.version_min === null ? "no versions" : `version ${c.version_min === c.version_max ? c.version_min : `${c.version_min}–${c.version_max}`}`,
    c.staleness === null ? null : `staleness ${c.staleness}`].filter(Boolean).join(" · ");
  const tokens = el("div", {className: "tokens"});
  if (c.shared) tokens.appendChild(el("span", {className: "shared"}, `⋯ ${fmt(c.shared)} prompt tokens identical to the previous call's prompt + output ⋯`));
  const frag = document.createDocumentFragment();
  c.context.ids.forEach((id, i) => frag.appendChild(tokenSpan(c.context.text[i], "ctx",
    `id ${id} · loss mask 0 (${i === 0 && !c.shared ? "prompt" : "prompt/tool"})`)));
  c.output.ids.forEach((id, i) => {
    const lp = c.output.logprobs[i], v = c.output.versions[i];
    const span = tokenSpan(c.output.text[i], "out",
      `id ${id} · loss mask 1 (trained) · logprob ${fmt(lp, 4)} (p=${fmt(Math.exp(lp))}) · version ${v}`);
    span.dataset.version = v;
    span.dataset.logprob = lp;
    frag.appendChild(span);
  });
  tokens.appendChild(frag);
  return el("details", {className: "call", open: c.index < 6, dataset: {call: c.index}}, el("summary", {}, tags, facts), tokens);
}

function tokenSpan(text, kind, title) {
  const partial = text === "";
  return el("span", {className: `tok ${kind}${partial ? " partial" : ""}`, title: partial ? `${title} · part of a multi-byte character` : title},
    partial ? "▯" : text);
}

function recolor() {
  const d = state.detail;
  const vs = versionsOf(d);
  for (const span of document.querySelectorAll("#calls .tok.out")) {
    if (state.mode === "mask") span.style.background = "";
    else if (state.mode === "version") span.style.background = versionColor(Number(span.dataset.version), vs);
    else span.style.background = probColor(Number(span.dataset.logprob));
  }
}
