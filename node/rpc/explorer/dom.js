// DOM building and formatting. Every string goes in as a text node or an attribute value:
// nothing here parses HTML, so a token name or an event holding "<script>" is shown, never run.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
  } else if (child instanceof Node) {
    el.appendChild(child);
  } else {
    el.appendChild(document.createTextNode(String(child)));
  }
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else {
      el.setAttribute(k, String(v));
    }
  }
}

// h("td", {class: "num"}, "text", otherNode, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// A link inside the page: the route is built from parts, each URI-encoded, and always starts with '#'.
export function link(text, ...route) {
  return h("a", { href: "#/" + route.map((p) => encodeURIComponent(String(p))).join("/") }, text);
}

export const shortHash = (hex) => (typeof hex === "string" && hex.length > 18 ? hex.slice(0, 10) + "…" + hex.slice(-6) : String(hex));

export const addrLink = (addr) => (addr ? link(shortHash(addr), "address", addr) : "—");
export const txLink = (hash) => link(shortHash(hash), "tx", hash);
export const blockLink = (height) => link(String(height), "block", height);

// A decimal string of base units to a readable amount: 18 decimals by default, up to `frac` shown.
export function units(value, decimals = 18, frac = 6) {
  if (value === null || value === undefined) return "—";
  let n;
  try {
    n = BigInt(value);
  } catch {
    return String(value);
  }
  const neg = n < 0n;
  if (neg) n = -n;
  const base = 10n ** BigInt(decimals);
  const whole = (n / base).toLocaleString("en-US");
  let rest = decimals > 0 ? (n % base).toString().padStart(decimals, "0").slice(0, frac).replace(/0+$/, "") : "";
  return (neg ? "-" : "") + whole + (rest ? "." + rest : "");
}

// A 1e18-scaled fraction as a percentage.
export function percent(scaled, digits = 2) {
  if (scaled === null || scaled === undefined) return "—";
  try {
    const bp = (BigInt(scaled) * 10000n * 10n ** BigInt(digits)) / 10n ** 18n;
    return (Number(bp) / 100 / 10 ** digits).toFixed(digits) + " %";
  } catch {
    return String(scaled);
  }
}

export function ago(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  return Math.floor(s / 3600) + " h ago";
}

export const iso = (ms) => new Date(ms).toISOString().replace("T", " ").replace(".000Z", " UTC").replace("Z", " UTC");

// A table: head is a list of column titles, rows a list of lists of cells (strings or nodes).
export function table(head, rows, attrs = {}) {
  return h("div", { class: "scroll" },
    h("table", attrs,
      h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => (c instanceof Node && c.tagName === "TD" ? c : h("td", {}, c))))))));
}

// Key/value pairs of a record; each value cell carries data-field=<key> for tests and scripts.
export function fields(pairs) {
  return h("dl", { class: "fields" },
    pairs.filter((p) => p).map(([key, label, value]) => [h("dt", {}, label), h("dd", { dataset: { field: key } }, value ?? "—")]));
}

// JSON shown as text, for contract values and event data.
export function json(value) {
  return h("code", { class: "json" }, JSON.stringify(value));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

export function message(kind, text) {
  return h("p", { class: "msg " + kind, role: kind === "error" ? "alert" : "status" }, text);
}
