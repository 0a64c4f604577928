// The friends tab: search, friend requests, and the friends with their presence.

import { S, ui, me, idOf } from "./state.js";
import { act, loadFriends, openDirect } from "./actions.js";
import { h, initials } from "./h.js";

export function friendsPane() {
  const input = h("input.search", {
    placeholder: "Search users by name",
    value: S.search.prefix,
    on: {
      input: async (e) => {
        const prefix = e.target.value.trim().toLowerCase();
        S.search.prefix = prefix;
        if (!prefix) {
          S.search.users = [];
          return ui.renderSidebar();
        }
        try {
          const r = await S.conn.request({ search_users: { prefix, limit: 20 } });
          if (S.search.prefix === prefix) {
            S.search.users = r.user_list.users;
            ui.renderSidebar();
          }
        } catch {
          // Ignored: the next keystroke tries again.
        }
      },
    },
  });
  const friendIds = new Set(S.friends.friends.map((f) => idOf(f.user.id)));
  const outgoing = new Set(S.friends.outgoing.map((u) => idOf(u.id)));
  const results = S.search.users
    .filter((u) => idOf(u.id) !== idOf(me().id))
    .map((u) =>
      h("li.person", h("div.avatar", initials(u.display_name)), h("span.name", u.display_name, h("small", ` @${u.username}`)),
        friendIds.has(idOf(u.id))
          ? h("span.tag", "Friend")
          : outgoing.has(idOf(u.id))
            ? h("span.tag", "Requested")
            : h("button.small", { on: { click: () => act({ send_friend_request: { user_id: u.id } }, loadFriends) } }, "Add")),
    );
  const incoming = S.friends.incoming.map((u) =>
    h("li.person", h("div.avatar", initials(u.display_name)), h("span.name", u.display_name),
      h("button.small.primary", { on: { click: () => act({ accept_friend_request: { user_id: u.id } }, loadFriends) } }, "Accept"),
      h("button.small", { on: { click: () => act({ decline_friend_request: { user_id: u.id } }, loadFriends) } }, "Decline")),
  );
  const friends = [...S.friends.friends]
    .sort((a, b) => Number(b.online) - Number(a.online) || a.user.display_name.localeCompare(b.user.display_name))
    .map((f) =>
      h("li.person.friend", { dataset: { userId: idOf(f.user.id) }, on: { click: () => openDirect(f.user.id) } },
        h("div.avatar", initials(f.user.display_name), h("span", { class: `presence ${f.online ? "on" : "off"}`, title: f.online ? "online" : "offline" })),
        h("span.name", f.user.display_name, f.user.status_message ? h("small", ` ${f.user.status_message}`) : null)),
    );
  return h(
    "div.pane",
    input,
    results.length ? h("ul.people.results", results) : null,
    incoming.length ? [h("h3", "Friend requests"), h("ul.people", incoming)] : null,
    h("h3", `Friends (${friends.length})`),
    friends.length ? h("ul.people", friends) : h("p.empty", "Search for people above to add friends."),
  );
}

