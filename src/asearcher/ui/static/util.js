// Small DOM and fetch helpers. Every string from the server (page text, model output, file names) goes
// into the page as a text node or an attribute value — never as HTML.

/** Create an element: el("div", {className: "x", title: "t"}, "text", childNode, ...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node[k] = v;
  }
  append(node, children);
  return node;
}

/** Append children (nodes or strings, as text) to node. */
export function append(node, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** A link only for http(s) URLs (never javascript: or data:); otherwise plain text. */
export function safeLink(url, text) {
  let ok = false;
  try { ok = ["http:", "https:"].includes(new URL(url).protocol); } catch { ok = false; }
  if (!ok) return el("span", {}, text ?? url ?? "");
  return el("a", {href: url, target: "_blank", rel: "noopener noreferrer"}, text ?? url);
}

/** fetch JSON; throws an Error carrying the server's "detail" message. */
export async function api(path, options = {}) {
  const opts = {...options};
  if (opts.json !== undefined) {
    opts.method = opts.method || "POST";
    opts.headers = {"Content-Type": "application/json"};
    opts.body = JSON.stringify(opts.json);
    delete opts.json;
  }
  const resp = await fetch(path, opts);
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  if (!resp.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    throw new Error(detail || `${resp.status} ${resp.statusText}`);
  }
  return body;
}

/** A number for display: integers as is, others with `digits` significant digits; "–" for null. */
export function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
  return String(Number(x.toPrecision(digits)));
}

export function clear(node) { node.replaceChildren(); return node; }

export function truncate(text, n) {
  const s = String(text ?? "");
  return s.length > n ? s.slice(0, n) + " …" : s;
}
