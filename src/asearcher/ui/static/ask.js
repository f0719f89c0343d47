// Ask page: start an episode (POST /api/ask), then follow its events (GET /api/ask/<id>/events, server-sent
// events) and draw each readable turn as it arrives. All text is inserted as text nodes.
import {api, clear, el, fmt, safeLink, truncate} from "./util.js";

const $ = (id) => document.getElementById(id);
let current = null; // {id, source: EventSource}

const LABELS = {think: "thought", search: "search", access: "access", observation: "result",
  summary: "notes", invalid: "invalid action", answer: "answer"};

export function initAsk(info) {
  const d = info.defaults;
  $("source").value = d.source;
  $("server-url").value = d.server_url;
  $("model").value = d.model;
  $("max-turns").value = d.max_turns;
  $("temperature").value = d.temperature;
  for (const name of info.models) $("model-names").appendChild(el("option", {value: name}));
  for (const a of info.agents) $("agent").appendChild(el("option", {value: a, selected: a === d.agent}, a));
  const showUrl = () => { $("server-url-field").hidden = $("source").value !== "server"; };
  $("source").addEventListener("change", showUrl);
  showUrl();
  $("ask-form").addEventListener("submit", (e) => { e.preventDefault(); ask(); });
  $("stop-btn").addEventListener("click", stop);
  renderCounters({calls: 0, searches: 0, accesses: 0, output_tokens: 0, context_tokens: 0}, 0);
}

function formValues() {
  const num = (id) => ($(id).value === "" ? null : Number($(id).value));
  return {question: $("question").value.trim(), source: $("source").value,
    server_url: $("source").value === "server" ? $("server-url").value.trim() : null,
    model: $("model").value.trim() || null, agent: $("agent").value || null,
    max_turns: num("max-turns"), temperature: num("temperature")};
}

async function ask() {
  const body = formValues();
  if (!body.question) return;
  if (current) current.source.close();
  clear($("timeline"));
  setRunning(true, "starting (the first question loads the model and the index)…");
  let id;
  try {
    ({id} = await api("/api/ask", {json: body}));
  } catch (err) {
    setRunning(false, "");
    $("ask-status").textContent = err.message;
    $("ask-status").className = "status error";
    return;
  }
  const source = new EventSource(`/api/ask/${encodeURIComponent(id)}/events`);
  current = {id, source};
  source.onmessage = (m) => onEvent(JSON.parse(m.data));
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) setRunning(false, "connection closed");
  };
}

async function stop() {
  if (!current) return;
  $("stop-btn").disabled = true;
  try { await api(`/api/ask/${encodeURIComponent(current.id)}/stop`, {json: {}}); } catch (err) {
    $("ask-status").textContent = err.message;
  }
}

function setRunning(running, status) {
  $("ask-btn").disabled = running;
  $("stop-btn").disabled = !running;
  $("ask-status").className = "status";
  $("ask-status").textContent = status;
}

function renderCounters(c, elapsed) {
  const items = [["calls", c.calls], ["searches", c.searches], ["page accesses", c.accesses],
    ["output tokens", c.output_tokens], ["context tokens", c.context_tokens], ["seconds", elapsed]];
  clear($("counters")).append(...items.map(([k, v]) =>
    el("span", {className: "counter", dataset: {counter: k}}, k, el("b", {}, fmt(v)))));
}

function onEvent(ev) {
  renderCounters(ev.counters, ev.elapsed_s);
  const pending = document.querySelector("#timeline .pending");
  if (ev.type !== "generating" && pending) pending.remove();
  switch (ev.type) {
    case "generating":
      if (!pending) $("timeline").appendChild(el("li", {className: "turn pending"}, `model is writing (call ${ev.call})…`));
      $("ask-status").textContent = `call ${ev.call}: ${fmt(ev.input_tokens)} context tokens`;
      break;
    case "turn":
      $("timeline").appendChild(renderTurn(ev.turn));
      break;
    case "done": {
      const s = ev.stats;
      const msg = ev.answer === null ? `finished without an answer (${s.finish})` : `answered (${s.finish})`;
      finish(msg + (ev.error ? `: ${ev.error}` : ""), Boolean(ev.error));
      break;
    }
    case "stopped": finish("stopped", false); break;
    case "error": finish(`error: ${ev.message}`, true); break;
    default: break;
  }
}

function finish(status, isError) {
  if (current) current.source.close();
  setRunning(false, status);
  if (isError) $("ask-status").className = "status error";
}

/** One readable event of the episode (asearcher.types.Turn) as a list item. */
export function renderTurn(t) {
  let label = LABELS[t.kind] || t.kind;
  if (t.chunk !== null && t.chunk !== undefined) label += ` (page part ${t.chunk + 1})`;
  const li = el("li", {className: `turn ${t.kind}${t.ok ? "" : " failed"}`, dataset: {kind: t.kind}},
    el("span", {className: "label"}, t.ok ? label : `${label} (failed)`));
  if (t.kind === "access") {
    li.appendChild(el("span", {className: "body"}, safeLink(t.text, t.text)));
  } else if (t.kind === "observation" && t.hits.length) {
    li.appendChild(el("ol", {className: "hits"}, t.hits.map((h) => el("li", {className: "hit"},
      el("span", {className: "title"}, h.title),
      h.url ? el("span", {className: "url"}, safeLink(h.url, h.url)) : null,
      el("div", {className: "snippet"}, truncate(h.contents, 400))))));
  } else if (t.kind === "observation" && t.text.length > 400) {
    li.appendChild(el("details", {}, el("summary", {}, truncate(t.text, 200)),
      el("div", {className: "body"}, t.text)));
  } else {
    li.appendChild(el("span", {className: "body"}, t.text));
  }
  return li;
}
