// The open chat's notice and pinned messages: the bars under its header, pinning from a
// message's menu, the notice editor, and the pinned list kept current from the timeline.

import { S, ui, me, idOf, view, ownerOf, preview, userName } from "./state.js";
import { act } from "./actions.js";
import { h } from "./h.js";

const mine = (summary) => ownerOf(summary) === idOf(me().id);

/** Every member pins, unless the group's owner reserved it. */
export const mayPin = (summary) => !summary?.room.pins_owner_only || mine(summary);

/** A group's owner sets the notice; either member of a direct room. */
export const maySetNotice = (summary) => summary?.room.kind !== "ROOM_KIND_GROUP" || mine(summary);

/** Every member invites, unless the group's owner reserved it. */
export const mayInvite = (summary) => !summary?.room.invite_owner_only || mine(summary);

export const isPinned = (v, seq) => v.pinned.some((p) => Number(p.seq) === Number(seq));

export function setPinned(m, pinned) {
  const value = { room_id: S.openId, seq: m.seq };
  act(pinned ? { pin_message: value } : { unpin_message: value });
}

/** Sets the notice to `text` (empty: takes it down), or asks for it. */
export function setNotice(text) {
  const summary = S.rooms.get(S.openId);
  const value = text ?? prompt("The chat's notice (leave empty to take it down)", summary?.room.notice?.text || "");
  if (value === null) return;
  act({ set_notice: { room_id: S.openId, text: value } }, (r) => {
    if (summary) summary.room = r.room;
  });
}

/** Keeps the pinned list current from a live entry: pin and unpin lines, edits and deletes. */
export function applyPins(roomId, m, target) {
  const v = view(roomId);
  const seq = Number(m.target_seq);
  const kind = m.system?.kind;
  if (kind === "SYSTEM_EVENT_KIND_PINNED") {
    const message = m.updated || v.messages.get(seq);
    if (!message) return refreshPins(roomId);
    v.pinned = [message, ...v.pinned.filter((p) => Number(p.seq) !== seq)];
  } else if (kind === "SYSTEM_EVENT_KIND_UNPINNED" || (m.kind === "MESSAGE_KIND_DELETE" && isPinned(v, seq))) {
    v.pinned = v.pinned.filter((p) => Number(p.seq) !== seq);
  } else if (target && isPinned(v, seq)) {
    v.pinned = v.pinned.map((p) => (Number(p.seq) === seq ? target : p));
  }
}

async function refreshPins(roomId) {
  try {
    const r = await S.conn.request({ list_pins: { room_id: roomId } });
    view(roomId).pinned = r.pinned_messages.messages || [];
    ui.renderChat();
  } catch {
    // The next open brings the list.
  }
}

/** The bars under the chat's header: its notice, and its newest pin (a click shows it). */
export function topBars(summary, v, jumpTo) {
  const notice = summary.room.notice;
  const newest = v.pinned[0];
  return h(
    "div.top-bars",
    notice
      ? h("div.notice-bar", { title: `Set by ${userName(notice.set_by)}` },
        h("span.bar-icon", "📢"), h("span.notice-text", notice.text),
        maySetNotice(summary) ? h("button.small", { type: "button", on: { click: () => setNotice() } }, "Edit") : null)
      : null,
    newest
      ? h("div.pin-bar",
        h("button.pin-jump", { type: "button", title: "Show the pinned message", on: { click: () => jumpTo(newest.seq) } },
          h("span.bar-icon", "📌"), h("span", preview(newest))),
        h("button.small", { type: "button", on: { click: () => { S.modal = { kind: "pins" }; ui.renderModal(); } } },
          v.pinned.length > 1 ? `All ${v.pinned.length}` : "Pinned"))
      : null,
  );
}

/** The dialog listing the open chat's pinned messages, newest pin first. */
export function pinsDialog(close, jumpTo) {
  const summary = S.rooms.get(S.openId);
  const v = view(S.openId);
  return h(
    "div.modal-body",
    h("h2", "Pinned messages"),
    v.pinned.length ? null : h("p.empty", "Nothing is pinned."),
    h("ul.pins", v.pinned.map((m) => h("li.pin", { dataset: { seq: m.seq } },
      h("button.pin-jump", { type: "button", on: { click: () => { close(); jumpTo(m.seq); } } },
        h("strong", userName(m.sender_id)), h("span", preview(m))),
      mayPin(summary) ? h("button.small", { type: "button", on: { click: () => setPinned(m, false) } }, "Unpin") : null))),
    h("div.modal-actions", h("button", { type: "button", on: { click: close } }, "Close")),
  );
}
