// A tiny DOM builder. Text always goes in as text nodes: nothing a user typed is ever parsed
// as HTML.

/** h("div.class#id", {attrs, on: {click}}, ...children) */
export function h(tag, props, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || "div");
  for (const part of rest) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (props && (typeof props !== "object" || props instanceof Node || Array.isArray(props))) {
    children.unshift(props);
    props = null;
  }
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v != null) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function time(ms) {
  const d = new Date(Number(ms));
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function day(ms) {
  const d = new Date(Number(ms));
  return d.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

export function shortWhen(ms) {
  const d = new Date(Number(ms));
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return time(ms);
  return d.toLocaleDateString([], { month: "short", day: "numeric" });
}

export function initials(name) {
  return (name || "?").trim().slice(0, 1).toUpperCase();
}
