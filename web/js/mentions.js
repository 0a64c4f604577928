// Mentions: the composer's "@" picker (members of the open room, and @all in groups), the
// ranges sent with a message, and bodies drawn with their mentions highlighted. Ranges are
// UTF-16 code units of the body, which is what JavaScript string indices are.

import { S, me, idOf, userName, view } from "./state.js";
import { h, clear } from "./h.js";

/** The "@query" being typed just before the caret, or null. */
function typedQuery(text) {
  const before = text.value.slice(0, text.selectionStart);
  const m = /(^|\s)@([^\s@]{0,30})$/.exec(before);
  return m ? { start: before.length - m[2].length - 1, query: m[2].toLowerCase() } : null;
}

/** Who can be mentioned here, matching `query`: members by display or user name, and all. */
function candidates(query) {
  const summary = S.rooms.get(S.openId);
  const mine = idOf(me().id);
  const out = [];
  if (summary?.room.kind === "ROOM_KIND_GROUP" && "all".startsWith(query)) {
    out.push({ who: "all", label: "all", hint: "everyone in this chat" });
  }
  for (const [id, m] of view(S.openId).members) {
    if (id === mine) continue;
    const name = m.user.display_name || m.user.username;
    const hit = [name, m.user.username].some((n) => n.toLowerCase().startsWith(query));
    if (hit) out.push({ who: id, label: name, hint: `@${m.user.username}` });
  }
  return out.slice(0, 8);
}

/**
 * Wires the picker to a composer textarea. The returned object keeps the mentions picked
 * for the text being written; `ranges(body)` turns those still in the body into entities.
 */
export function mentionPicker(text) {
  const list = h("ul.mention-picker", { role: "listbox", hidden: true });
  let picked = [];
  let shown = [];
  let active = 0;
  const close = () => { list.hidden = true; shown = []; };
  const choose = (c) => {
    const q = typedQuery(text);
    if (!q) return close();
    const mention = `@${c.label}`;
    const after = text.value.slice(text.selectionStart);
    text.value = `${text.value.slice(0, q.start)}${mention} ${after}`;
    const caret = q.start + mention.length + 1;
    text.setSelectionRange(caret, caret);
    picked.push({ who: c.who, text: mention });
    close();
    text.focus();
  };
  const draw = () => {
    clear(list);
    shown.forEach((c, i) =>
      list.append(
        h(
          "li",
          {
            role: "option",
            class: i === active ? "active" : "",
            "aria-selected": i === active ? "true" : "false",
            // mousedown, not click: the textarea keeps its caret.
            on: { mousedown: (e) => { e.preventDefault(); choose(c); } },
          },
          h("strong", `@${c.label}`),
          h("small", c.hint),
        ),
      ),
    );
    list.hidden = shown.length === 0;
  };
  const update = () => {
    const q = typedQuery(text);
    shown = q ? candidates(q.query) : [];
    active = 0;
    draw();
  };
  text.addEventListener("input", update);
  text.addEventListener("blur", close);
  /** Handles picker keys first; true when the key was the picker's. */
  const onKey = (e) => {
    if (list.hidden || !shown.length) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      active = (active + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      draw();
    } else if (e.key === "Enter" || e.key === "Tab") {
      choose(shown[active]);
    } else if (e.key === "Escape") {
      close();
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  };
  return {
    list,
    onKey,
    /** Starts over with the mentions a message already has (editing it). */
    reset(message) {
      picked = (message?.mentions || []).map((m) => ({
        who: m.all ? "all" : idOf(m.user_id),
        text: message.body.slice(m.offset, m.offset + m.length),
      }));
      close();
    },
    /** The picked mentions still in `body`, as ranges in order; the picks are then cleared. */
    ranges(body) {
      const out = [];
      let from = 0;
      const found = picked
        .map((p) => ({ ...p, at: body.indexOf(p.text) }))
        .filter((p) => p.at >= 0)
        .sort((a, b) => a.at - b.at);
      for (const p of found) {
        const at = body.indexOf(p.text, from);
        if (at < 0) continue;
        out.push(p.who === "all"
          ? { all: true, offset: at, length: p.text.length }
          : { user_id: p.who, offset: at, length: p.text.length });
        from = at + p.text.length;
      }
      picked = [];
      return out;
    },
  };
}

/** A message body with its mentions as highlighted spans (mine, or @all, stronger). */
export function bodyWithMentions(m) {
  const mentions = [...(m.mentions || [])].sort((a, b) => a.offset - b.offset);
  if (!mentions.length) return m.body;
  const mine = idOf(me().id);
  const parts = [];
  let at = 0;
  for (const x of mentions) {
    const start = Number(x.offset);
    const end = start + Number(x.length);
    if (start < at || end > m.body.length) continue;
    parts.push(m.body.slice(at, start));
    const forMe = x.all || idOf(x.user_id) === mine;
    parts.push(
      h(
        "span.mention",
        { class: forMe ? "mention me" : "mention", title: x.all ? "Everyone" : userName(x.user_id) },
        m.body.slice(start, end),
      ),
    );
    at = end;
  }
  parts.push(m.body.slice(at));
  return parts;
}
