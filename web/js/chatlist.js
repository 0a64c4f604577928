// The sidebar: who is logged in and the connection's state, the tabs, and the chat list.

import * as api from "./api.js";
import { S, ui, me, idOf, roomTitle, preview, sortedRooms } from "./state.js";
import { openRoom } from "./actions.js";
import { friendsPane } from "./friends.js";
import { h, clear, shortWhen, initials } from "./h.js";

export function renderStatus() {
  const el = document.getElementById("conn-state");
  if (!el) return;
  clear(el);
  const label =
    S.connState === "online"
      ? `Online${S.connDetail === "long polling" ? " (long polling)" : ""}`
      : S.connState === "connecting"
        ? "Connecting…"
        : `Offline – ${S.connDetail}`;
  el.className = `conn conn-${S.connState}`;
  el.dataset.state = S.connState;
  el.append(h("span.dot"), label);
}

export function renderSidebar() {
  const side = document.getElementById("sidebar");
  if (!side) return;
  // An event may re-render the sidebar while the user types a search: keep their place.
  const typingSearch = document.activeElement?.classList.contains("search");
  const scroll = side.querySelector(".pane")?.scrollTop || 0;
  clear(side);
  const totalUnread = sortedRooms().reduce((n, s) => n + Number(s.unread || 0), 0);
  side.append(
    h(
      "header.side-head",
      h("div.avatar", initials(me().display_name)),
      h("div.who", h("strong", me().display_name), h("span#conn-state")),
      h("button.icon", { title: "Log out", on: { click: () => api.logout(S.session).finally(() => location.reload()) } }, "⎋"),
    ),
    h(
      "nav.tabs",
      h("button", { class: S.tab === "chats" ? "active" : "", on: { click: () => { S.tab = "chats"; ui.render(); } } },
        "Chats", totalUnread ? h("span.badge", totalUnread) : null),
      h("button", { class: S.tab === "friends" ? "active" : "", on: { click: () => { S.tab = "friends"; ui.render(); } } },
        "Friends", S.friends.incoming.length ? h("span.badge", S.friends.incoming.length) : null),
    ),
  );
  if (S.tab === "chats") side.append(chatList());
  else side.append(friendsPane());
  const pane = side.querySelector(".pane");
  if (pane) pane.scrollTop = scroll;
  if (typingSearch) {
    const input = side.querySelector(".search");
    input?.focus();
    input?.setSelectionRange(input.value.length, input.value.length);
  }
  renderStatus();
}

function chatList() {
  const list = h("ul.rooms");
  for (const s of sortedRooms()) {
    const id = idOf(s.room.id);
    list.append(
      h(
        "li.room-item",
        { class: `room-item${id === S.openId ? " active" : ""}`, dataset: { roomId: id }, on: { click: () => openRoom(id) } },
        h("div.avatar", initials(roomTitle(s))),
        h(
          "div.room-main",
          h("div.room-top", h("span.room-name", roomTitle(s)),
            s.muted ? h("span.muted-mark", { title: "Muted", "aria-label": "Muted" }, "🔕") : null,
            h("span.room-time", shortWhen(s.last_activity_ms))),
          h("div.room-bottom", h("span.room-preview", preview(s.last_message)),
            Number(s.mention_count) > 0 ? h("span.badge.mention", { title: `${s.mention_count} mentions of you` }, "@") : null,
            Number(s.unread) > 0 ? h("span.badge.unread", { class: s.muted ? "badge unread quiet" : "badge unread" }, s.unread) : null),
        ),
      ),
    );
  }
  return h(
    "div.pane",
    h("div.pane-actions", h("button.primary", { on: { click: () => { S.modal = { kind: "group" }; ui.renderModal(); } } }, "New group chat")),
    S.rooms.size ? list : h("p.empty", "No chats yet. Find friends and say hello."),
  );
}

