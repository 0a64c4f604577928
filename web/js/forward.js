// Forwarding a message: the dialog that picks the chats it goes to (the open one included),
// each forward sent through the outbox like a message.

import { S, idOf, roomTitle } from "./state.js";
import { h } from "./h.js";

/** The chats to forward message `m` (of the open chat) to. */
export function forwardDialog(close) {
  const { roomId, seq, preview } = S.modal;
  const rooms = [...S.rooms.values()].sort((a, b) => Number(b.last_activity_ms) - Number(a.last_activity_ms));
  const boxes = rooms.map((r) =>
    h("label.pick", h("input", { type: "checkbox", value: idOf(r.room.id) }), roomTitle(r)));
  const picked = () => boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
  return h(
    "form.modal-body.forward",
    {
      on: {
        submit: (e) => {
          e.preventDefault();
          for (const to of picked()) S.conn.forward(roomId, seq, to);
          close();
        },
      },
    },
    h("h2", "Forward to"),
    h("p.forward-preview", preview),
    rooms.length ? h("div.picks", boxes) : h("p.empty", "No chats yet."),
    h("div.modal-actions", h("button", { type: "button", on: { click: close } }, "Cancel"),
      h("button.primary", { type: "submit" }, "Forward")),
  );
}

/** Opens the dialog for a message of the open chat. */
export function startForward(m, preview) {
  S.modal = { kind: "forward", roomId: S.openId, seq: m.seq, preview };
}
