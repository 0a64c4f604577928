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
  /** The composer's mode: null, or {mode: "reply" | "edit", seq, roomId}. */
  compose: null,
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
  if (message.deleted) return "Message deleted";
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
      /** The pinned messages, newest pin first (room_opened, then the timeline's lines). */
      pinned: [],
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


/** A line the room wrote itself: who joined, left, was removed; a rename, a hand-over. */
export const isSystem = (m) => m.kind === "MESSAGE_KIND_SYSTEM";

/** A timeline entry that changes another (an edit, a delete) rather than a message. */
export const isChange = (m) => !!m.kind && m.kind !== "MESSAGE_KIND_UNSPECIFIED" && !isSystem(m);

/** A group's owner (its creator until handed over). */
export const ownerOf = (summary) => idOf(summary?.room?.owner_id || 0);

/** What a system line says, in words. */
export function systemText(m) {
  const by = userName(idOf(m.sender_id));
  const users = (m.system?.user_ids || []).map((u) => userName(idOf(u))).join(", ");
  switch (m.system?.kind) {
    case "SYSTEM_EVENT_KIND_JOINED":
      return users === by ? `${by} joined` : `${by} invited ${users}`;
    case "SYSTEM_EVENT_KIND_LEFT":
      return `${by} left`;
    case "SYSTEM_EVENT_KIND_REMOVED":
      return `${by} removed ${users}`;
    case "SYSTEM_EVENT_KIND_RENAMED":
      return `${by} renamed the chat to “${m.body}”`;
    case "SYSTEM_EVENT_KIND_OWNER_CHANGED":
      return `${users} is now the owner`;
    case "SYSTEM_EVENT_KIND_HISTORY_VISIBILITY_CHANGED":
      return m.body === "shared"
        ? `${by} let new members see earlier messages`
        : `${by} set new members to see messages from when they join`;
    case "SYSTEM_EVENT_KIND_NOTICE_CHANGED":
      return m.body ? `${by} set the notice: “${m.body}”` : `${by} took the notice down`;
    case "SYSTEM_EVENT_KIND_PINNED":
      return `${by} pinned a message`;
    case "SYSTEM_EVENT_KIND_UNPINNED":
      return `${by} unpinned a message`;
    case "SYSTEM_EVENT_KIND_PERMISSIONS_CHANGED": {
      const what = (m.body ? m.body.split(",") : []).map((w) => (w === "invite" ? "inviting" : "pinning"));
      return what.length ? `${by} made ${what.join(" and ")} owner-only` : `${by} let every member invite and pin`;
    }
    default:
      return "";
  }
}

/** What a system line changes in the chat list's copy of the room. */
export function applySystem(summary, m) {
  if (!summary) return;
  if (m.system?.kind === "SYSTEM_EVENT_KIND_RENAMED") summary.room.name = m.body;
  if (m.system?.kind === "SYSTEM_EVENT_KIND_OWNER_CHANGED") summary.room.owner_id = m.system.user_ids[0];
  if (m.system?.kind === "SYSTEM_EVENT_KIND_HISTORY_VISIBILITY_CHANGED") {
    summary.room.history_visibility = m.body === "shared" ? "HISTORY_VISIBILITY_SHARED" : undefined;
  }
  if (m.system?.kind === "SYSTEM_EVENT_KIND_NOTICE_CHANGED") {
    summary.room.notice = m.body ? { text: m.body, set_by: m.sender_id, set_at_ms: m.sent_at_ms, seq: m.seq } : undefined;
  }
  if (m.system?.kind === "SYSTEM_EVENT_KIND_PERMISSIONS_CHANGED") {
    const reserved = m.body ? m.body.split(",") : [];
    summary.room.invite_owner_only = reserved.includes("invite");
    summary.room.pins_owner_only = reserved.includes("pins");
  }
}

/** Applies a change entry to the messages of a view: the target as it is now when the entry
 * carries it (live), else the change itself, unless the target already shows it. Quotes of the
 * target follow. */
export function applyChange(v, change) {
  const seq = Number(change.target_seq);
  const target = v.messages.get(seq);
  if (change.updated) {
    if (target) v.messages.set(seq, { ...change.updated, unread: target.unread, reactions: ownReactions(target, change) });
  } else if (target && Number(target.changed_seq || 0) < Number(change.seq)) {
    if (change.kind.startsWith("MESSAGE_KIND_REACTION")) {
      target.reactions = countReaction(target.reactions || [], change);
    } else if (change.kind === "MESSAGE_KIND_EDIT") {
      Object.assign(target, { body: change.body, edited_at_ms: change.sent_at_ms });
    } else {
      Object.assign(target, { body: "", attachments: [], reply_to: undefined, deleted: true, deleted_by: change.sender_id });
    }
    target.changed_seq = change.seq;
  }
  const now = v.messages.get(seq);
  for (const m of v.messages.values()) {
    if (!m.reply_to || Number(m.reply_to.seq) !== seq) continue;
    if (change.kind === "MESSAGE_KIND_DELETE") m.reply_to = { ...m.reply_to, preview: "", deleted: true };
    else if (now) m.reply_to = { ...m.reply_to, preview: [...now.body].slice(0, 100).join("") };
  }
  return now;
}

const mineIn = (m) => new Set((m.reactions || []).filter((r) => r.mine).map((r) => r.emoji));

/** Live copies carry counts but not `mine` (the frame is shared by every member): keep ours
 * from the copy we had, changed by our own reaction entries. */
function ownReactions(previous, change) {
  const mine = mineIn(previous);
  if (idOf(change.sender_id) === idOf(me().id)) {
    if (change.kind === "MESSAGE_KIND_REACTION_ADDED") mine.add(change.body);
    if (change.kind === "MESSAGE_KIND_REACTION_REMOVED") mine.delete(change.body);
  }
  return (change.updated.reactions || []).map((r) => ({ ...r, mine: mine.has(r.emoji) }));
}

/** A reaction entry applied to counts (history or recovery, where no `updated` comes). */
function countReaction(reactions, change) {
  const own = idOf(change.sender_id) === idOf(me().id);
  const add = change.kind === "MESSAGE_KIND_REACTION_ADDED";
  const list = reactions.map((r) => ({ ...r }));
  let r = list.find((x) => x.emoji === change.body);
  if (!r && add) list.push((r = { emoji: change.body, count: 0, mine: false, first_user_ids: [] }));
  if (!r) return list;
  r.count = Math.max(0, Number(r.count) + (add ? 1 : -1));
  if (own) r.mine = add;
  return list.filter((x) => x.count > 0);
}
