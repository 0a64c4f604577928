// The client's state (`S`), what every view reads, and `ui`: the screen's renderers, filled in
// by main.js, so views and actions can ask for a re-render without importing each other.

export const S = {
  session: null,
  conn: null,
  connState: "connecting",
  connDetail: "",
  users: new Map(),
  rooms: new Map(),
  tab: "chats",
  openId: null,
  views: new Map(),
  friends: { friends: [], incoming: [], outgoing: [], blocked: [] },
  search: { prefix: "", users: [] },
  modal: null,
  error: "",
};

/** The screen's renderers (set by main.js). */
export const ui = {
  render: () => {},
  renderSidebar: () => {},
  renderChat: () => {},
  renderMessages: () => {},
  renderModal: () => {},
  renderStatus: () => {},
  scrollToBottom: () => {},
};

export const me = () => S.session?.user;
export const idOf = (v) => String(v);

export function userName(id) {
  const u = S.users.get(idOf(id));
  return u ? u.display_name || u.username : "…";
}

export async function ensureUsers(ids) {
  const missing = [...new Set(ids.map(idOf))].filter((id) => !S.users.has(id) && id !== "0");
  await Promise.all(
    missing.map(async (id) => {
      try {
        const r = await S.conn.request({ get_user: { user_id: id } });
        S.users.set(id, r.user);
      } catch {
        // Shown as "…" until the next try.
      }
    }),
  );
}

export function roomTitle(summary) {
  const room = summary.room;
  if (room.kind === "ROOM_KIND_GROUP") return room.name;
  const other = (room.member_ids || []).map(idOf).find((m) => m !== idOf(me().id));
  return other ? userName(other) : "Just you";
}

export function preview(message) {
  if (!message) return "No messages yet";
  if (message.body) return message.body;
  const a = message.attachments?.[0];
  if (!a) return "";
  return a.content_type.startsWith("image/") ? `[Photo] ${a.name}` : `[File] ${a.name}`;
}

export function sortedRooms() {
  return [...S.rooms.values()].sort(
    (a, b) => Number(b.last_activity_ms) - Number(a.last_activity_ms),
  );
}

export function view(roomId) {
  const id = idOf(roomId);
  if (!S.views.has(id)) {
    S.views.set(id, {
      messages: new Map(),
      pending: new Map(),
      members: new Map(),
      typing: new Map(),
      hasMore: true,
      loadingOlder: false,
      opened: false,
    });
  }
  return S.views.get(id);
}

export function maxSeq(v) {
  let max = 0;
  for (const seq of v.messages.keys()) max = Math.max(max, seq);
  return max;
}

export function minSeq(v) {
  let min = Infinity;
  for (const seq of v.messages.keys()) min = Math.min(min, seq);
  return min === Infinity ? 0 : min;
}

export function showError(e) {
  S.error = e?.message || String(e);
  ui.render();
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => {
    S.error = "";
    ui.render();
  }, 5000);
}

