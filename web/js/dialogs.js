// Dialogs: a new group, inviting friends, the members of the open room, its pinned messages,
// forwarding a message.

import { S, idOf, me, ownerOf, view } from "./state.js";
import { act, openRoom } from "./actions.js";
import { h, clear, initials } from "./h.js";
import { pinsDialog } from "./pins.js";
import { forwardDialog } from "./forward.js";
import { jumpTo } from "./chat.js";

export function renderModal() {
  const root = document.getElementById("modal-root");
  if (!root) return;
  clear(root);
  if (!S.modal) return;
  const close = () => { S.modal = null; renderModal(); };
  let body;
  if (S.modal.kind === "group" || S.modal.kind === "invite") {
    const inRoom = new Set(S.modal.kind === "invite" ? (S.rooms.get(S.openId)?.room.member_ids || []).map(idOf) : []);
    const choices = S.friends.friends.filter((f) => !inRoom.has(idOf(f.user.id)));
    const boxes = choices.map((f) => h("label.pick", h("input", { type: "checkbox", value: idOf(f.user.id) }), f.user.display_name));
    const name = h("input", { placeholder: "Group name", maxlength: 100 });
    const picked = () => boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    body = h(
      "form.modal-body",
      {
        on: {
          submit: (e) => {
            e.preventDefault();
            if (S.modal.kind === "group") {
              act({ create_group_room: { name: name.value.trim(), member_ids: picked() } }, async (r) => {
                S.rooms.set(idOf(r.room.id), { room: r.room, last_activity_ms: r.room.created_at_ms, unread: 0 });
                S.modal = null;
                await openRoom(r.room.id);
              });
            } else {
              act({ invite_members: { room_id: S.openId, user_ids: picked() } }, (r) => {
                S.rooms.get(S.openId).room = r.room;
                S.modal = null;
              });
            }
          },
        },
      },
      h("h2", S.modal.kind === "group" ? "New group chat" : "Invite friends"),
      S.modal.kind === "group" ? name : null,
      choices.length ? h("div.picks", boxes) : h("p.empty", "No friends to add yet."),
      h("div.modal-actions", h("button", { type: "button", on: { click: close } }, "Cancel"),
        h("button.primary", { type: "submit" }, S.modal.kind === "group" ? "Create" : "Invite")),
    );
  } else if (S.modal.kind === "members") {
    body = membersDialog(close);
  } else if (S.modal.kind === "pins") {
    body = pinsDialog(close, jumpTo);
  } else if (S.modal.kind === "forward") {
    body = forwardDialog(close);
  }
  root.append(h("div.modal", { on: { click: (e) => { if (e.target.classList.contains("modal")) close(); } } }, body));
}

/** The members of the open room; for a group's owner, its controls: rename, history
 * visibility, who may invite and pin, hand over, remove. */
function membersDialog(close) {
  const v = view(S.openId);
  const summary = S.rooms.get(S.openId);
  const room = summary?.room;
  const owner = ownerOf(summary);
  const mine = idOf(me().id);
  const isOwner = room?.kind === "ROOM_KIND_GROUP" && owner === mine;
  const update = (r) => {
    if (summary) summary.room = r.room;
  };
  const name = h("input", { value: room?.name || "", maxlength: 100, "aria-label": "Group name" });
  const rename = isOwner
    ? h("form.rename", {
      on: {
        submit: (e) => {
          e.preventDefault();
          act({ rename_room: { room_id: S.openId, name: name.value } }, update);
        },
      },
    }, name, h("button", { type: "submit" }, "Rename"))
    : null;
  const shared = room?.history_visibility === "HISTORY_VISIBILITY_SHARED";
  const visibility = isOwner
    ? h("label.pick.share-history", h("input", {
      type: "checkbox",
      checked: shared,
      on: {
        change: (e) => {
          const visibility = e.target.checked ? "HISTORY_VISIBILITY_SHARED" : "HISTORY_VISIBILITY_UNSPECIFIED";
          act({ set_history_visibility: { room_id: S.openId, visibility } }, update);
        },
      },
    }), "New members see earlier messages")
    : null;
  const reserve = (cls, label, key) => isOwner
    ? h(`label.pick.${cls}`, h("input", {
      type: "checkbox",
      checked: !!room[key],
      on: {
        change: (e) => {
          const now = { invite_owner_only: !!room.invite_owner_only, pins_owner_only: !!room.pins_owner_only, [key]: e.target.checked };
          act({ set_room_permissions: { room_id: S.openId, ...now } }, update);
        },
      },
    }), label)
    : null;
  const controls = (id) => !isOwner || id === mine ? null : h("span.controls",
    h("button.small", { on: { click: () => act({ transfer_ownership: { room_id: S.openId, user_id: id } }, update) } }, "Make owner"),
    h("button.small.danger", {
      on: {
        click: () => {
          if (confirm(`Remove ${v.members.get(id)?.user.display_name || "this member"} from the chat?`)) {
            act({ remove_member: { room_id: S.openId, user_id: id } }, update);
          }
        },
      },
    }, "Remove"));
  return h(
    "div.modal-body",
    h("h2", "Members"),
    rename,
    visibility,
    reserve("invite-owner-only", "Only I can invite", "invite_owner_only"),
    reserve("pins-owner-only", "Only I can pin messages", "pins_owner_only"),
    h("ul.people", [...v.members.values()].map((m) => {
      const id = idOf(m.user.id);
      return h("li.person", { dataset: { userId: id } },
        h("div.avatar", initials(m.user.display_name), h("span", { class: `presence ${m.online ? "on" : "off"}` })),
        h("span.name", m.user.display_name, id === owner ? h("span.owner-mark", "owner") : null),
        controls(id));
    })),
    h("div.modal-actions", h("button", { on: { click: close } }, "Close")),
  );
}
