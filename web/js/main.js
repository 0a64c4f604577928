// Web Kakao: the browser client. State lives in `S`; the screen is rebuilt from it (text
// only ever enters the DOM as text nodes, see h.js).

import * as api from "./api.js";
import { Connection } from "./conn.js";
import { h, clear, time, day, shortWhen, initials } from "./h.js";

const S = {
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
  outbox: [],
  modal: null,
  error: "",
};

const app = document.getElementById("app");
// For tests and debugging: the state and the connection.
window.chatApp = S;

// ---------- helpers ----------

const me = () => S.session?.user;
const idOf = (v) => String(v);

function userName(id) {
  const u = S.users.get(idOf(id));
  return u ? u.display_name || u.username : "…";
}

async function ensureUsers(ids) {
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

function roomTitle(summary) {
  const room = summary.room;
  if (room.kind === "ROOM_KIND_GROUP") return room.name;
  const other = (room.member_ids || []).map(idOf).find((m) => m !== idOf(me().id));
  return other ? userName(other) : "Just you";
}

function preview(message) {
  if (!message) return "No messages yet";
  if (message.body) return message.body;
  const a = message.attachments?.[0];
  if (!a) return "";
  return a.content_type.startsWith("image/") ? `[Photo] ${a.name}` : `[File] ${a.name}`;
}

function sortedRooms() {
  return [...S.rooms.values()].sort(
    (a, b) => Number(b.last_activity_ms) - Number(a.last_activity_ms),
  );
}

function view(roomId) {
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

function maxSeq(v) {
  let max = 0;
  for (const seq of v.messages.keys()) max = Math.max(max, seq);
  return max;
}

function minSeq(v) {
  let min = Infinity;
  for (const seq of v.messages.keys()) min = Math.min(min, seq);
  return min === Infinity ? 0 : min;
}

function showError(e) {
  S.error = e?.message || String(e);
  render();
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => {
    S.error = "";
    render();
  }, 5000);
}

// ---------- start ----------

function start() {
  S.session = api.savedSession();
  if (!S.session) return renderAuth();
  S.users.set(idOf(me().id), me());
  S.conn = new Connection(S.session, {
    onEvent,
    onReady,
    onState: (state, detail) => {
      S.connState = state;
      S.connDetail = detail;
      renderStatus();
    },
    onSignedOut: () => {
      api.forget();
      location.reload();
    },
  });
  if (new URLSearchParams(location.search).get("transport") === "poll") S.conn.forcePolling = true;
  render();
  S.conn.start();
  window.addEventListener("online", () => S.conn.reconnectNow());
  document.addEventListener("visibilitychange", () => markReadSoon());
}

/** After every (re)connection: refresh lists, re-open the room by seq, resend the outbox. */
async function onReady() {
  try {
    const list = await S.conn.request({ list_rooms: { limit: 200 } });
    for (const summary of list.room_list.rooms || []) S.rooms.set(idOf(summary.room.id), summary);
    await ensureUsers(sortedRooms().flatMap((s) => s.room.member_ids || []));
    await loadFriends();
    render();
    if (S.openId) await openRoom(S.openId, true);
    flushOutbox();
  } catch (e) {
    if (!e.retryable) showError(e);
  }
}

async function loadFriends() {
  const r = await S.conn.request({ list_friends: {} });
  S.friends = r.friends;
  for (const f of S.friends.friends) S.users.set(idOf(f.user.id), f.user);
  for (const u of [...S.friends.incoming, ...S.friends.outgoing]) S.users.set(idOf(u.id), u);
}

// ---------- events ----------

function onEvent(e) {
  if (e.message) return onMessage(e.message);
  if (e.room_update) return onRoomUpdate(e.room_update);
  if (e.room_added) {
    const s = e.room_added.room;
    S.rooms.set(idOf(s.room.id), s);
    ensureUsers(s.room.member_ids || []).then(render);
    return render();
  }
  if (e.read_receipt) return onReadReceipt(e.read_receipt);
  if (e.members_changed) return onMembersChanged(e.members_changed);
  if (e.presence_changed) {
    const p = e.presence_changed;
    const m = view(p.room_id).members.get(idOf(p.user_id));
    if (m) m.online = p.online;
    return renderChat();
  }
  if (e.typing_started) return onTyping(e.typing_started);
  if (e.friend_request_received || e.friend_request_accepted) {
    return loadFriends().then(render, () => {});
  }
  if (e.friend_presence) {
    const f = S.friends.friends.find((x) => idOf(x.user.id) === idOf(e.friend_presence.user_id));
    if (f) f.online = e.friend_presence.online;
    return renderSidebar();
  }
}

function onMessage(m) {
  const roomId = idOf(m.room_id);
  const v = view(roomId);
  const seq = Number(m.seq);
  if (v.messages.has(seq)) return;
  v.messages.set(seq, m);
  v.pending.delete(m.client_msg_id);
  v.typing.delete(idOf(m.sender_id));
  const summary = S.rooms.get(roomId);
  if (summary && Number(summary.last_message?.seq || 0) < seq) {
    summary.last_message = m;
    summary.last_activity_ms = m.sent_at_ms;
  }
  if (roomId === S.openId) markReadSoon();
  render();
}

function onRoomUpdate(u) {
  const summary = S.rooms.get(idOf(u.room_id));
  if (!summary) return;
  summary.last_message = {
    seq: u.last_seq,
    sender_id: u.sender_id,
    body: u.preview,
    sent_at_ms: u.sent_at_ms,
    attachments: [],
  };
  summary.last_activity_ms = u.sent_at_ms;
  summary.unread = u.unread;
  renderSidebar();
}

function onReadReceipt(r) {
  const v = view(r.room_id);
  const from = Number(r.from_seq);
  const to = Number(r.to_seq);
  for (const [seq, m] of v.messages) {
    if (seq > from && seq <= to && m.unread > 0) m.unread -= 1;
  }
  const member = v.members.get(idOf(r.user_id));
  if (member) member.last_read_seq = String(Math.max(Number(member.last_read_seq), to));
  if (idOf(r.room_id) === S.openId) renderMessages();
}

function onMembersChanged(c) {
  const v = view(c.room_id);
  for (const id of c.left || []) v.members.delete(idOf(id));
  for (const id of c.joined || []) {
    v.members.set(idOf(id), { user: S.users.get(idOf(id)) || { id }, online: false, last_read_seq: "0" });
  }
  const summary = S.rooms.get(idOf(c.room_id));
  if (summary) summary.room.member_ids = c.member_ids;
  ensureUsers(c.joined || []).then(render);
  render();
}

function onTyping(t) {
  if (idOf(t.user_id) === idOf(me().id)) return;
  const v = view(t.room_id);
  clearTimeout(v.typing.get(idOf(t.user_id)));
  v.typing.set(
    idOf(t.user_id),
    setTimeout(() => {
      v.typing.delete(idOf(t.user_id));
      renderChat();
    }, Number(t.ttl_ms) || 5000),
  );
  renderChat();
}

// ---------- actions ----------

async function openRoom(roomId, recovering = false) {
  const id = idOf(roomId);
  const previous = S.openId;
  if (previous && previous !== id && S.conn.state === "online") {
    S.conn.request({ close_room: { room_id: previous } }).catch(() => {});
    view(previous).opened = false;
  }
  S.openId = id;
  const v = view(id);
  render();
  if (S.conn.state !== "online") return;
  try {
    if (!recovering && !v.opened) {
      // Read receipts were not followed while the room was closed: start from a fresh page.
      v.messages.clear();
      v.hasMore = true;
    }
    const since = maxSeq(v);
    const r = await S.conn.request({ open_room: { room_id: id, since_seq: since } });
    v.opened = true;
    for (const m of r.room_opened.members || []) {
      S.users.set(idOf(m.user.id), m.user);
      v.members.set(idOf(m.user.id), m);
    }
    const summary = S.rooms.get(id);
    if (summary) summary.room = r.room_opened.room;
    if (v.messages.size === 0) await loadOlder(id);
    else await refreshCounts(id, since);
    markReadSoon();
    render();
    scrollToBottom();
  } catch (e) {
    if (!e.retryable) showError(e);
  }
}

async function loadOlder(roomId) {
  const v = view(roomId);
  if (v.loadingOlder || !v.hasMore) return;
  v.loadingOlder = true;
  try {
    const before = minSeq(v);
    const r = await S.conn.request({
      get_history: { room_id: roomId, before_seq: before, limit: 30 },
    });
    for (const m of r.history.messages || []) v.messages.set(Number(m.seq), m);
    v.hasMore = r.history.has_more;
    await ensureUsers((r.history.messages || []).map((m) => m.sender_id));
  } finally {
    v.loadingOlder = false;
  }
}

/** After a reconnection: read receipts sent meanwhile were missed; take the current unread
 * counts of the newest messages shown (older ones count on the next open). */
async function refreshCounts(roomId, through) {
  const v = view(roomId);
  const r = await S.conn.request({
    get_history: { room_id: roomId, before_seq: through + 1, limit: 100 },
  });
  for (const m of r.history.messages || []) {
    const shown = v.messages.get(Number(m.seq));
    if (shown) shown.unread = m.unread;
  }
}

let markTimer = null;
function markReadSoon() {
  clearTimeout(markTimer);
  markTimer = setTimeout(async () => {
    if (!S.openId || document.visibilityState !== "visible" || S.conn?.state !== "online") return;
    const v = view(S.openId);
    const seq = maxSeq(v);
    const summary = S.rooms.get(S.openId);
    const mine = v.members.get(idOf(me().id));
    if (!seq || (mine && Number(mine.last_read_seq) >= seq)) return;
    try {
      await S.conn.request({ mark_read: { room_id: S.openId, seq } });
      if (mine) mine.last_read_seq = String(seq);
      if (summary) summary.unread = 0;
      renderSidebar();
    } catch {
      // Marked on the next message or reconnect.
    }
  }, 250);
}

function send(body, fileIds = []) {
  const item = {
    room_id: S.openId,
    client_msg_id: crypto.randomUUID(),
    body,
    file_ids: fileIds,
    sent_at_ms: Date.now(),
  };
  view(item.room_id).pending.set(item.client_msg_id, item);
  S.outbox.push(item);
  renderMessages();
  scrollToBottom();
  flushOutbox();
}

/** Sends what is waiting, in order, each with its own client_msg_id (retries are safe). */
async function flushOutbox() {
  if (flushOutbox.running) return;
  flushOutbox.running = true;
  try {
    while (S.outbox.length && S.conn.state === "online") {
      const item = S.outbox[0];
      try {
        await S.conn.request({
          send_message: {
            room_id: item.room_id,
            client_msg_id: item.client_msg_id,
            body: item.body,
            file_ids: item.file_ids,
          },
        });
        S.outbox.shift();
      } catch (e) {
        if (e.retryable) break;
        S.outbox.shift();
        view(item.room_id).pending.delete(item.client_msg_id);
        showError(e);
      }
    }
  } finally {
    flushOutbox.running = false;
  }
}

async function sendFile(file) {
  try {
    const info = await api.upload(S.session, file);
    send("", [info.id]);
  } catch (e) {
    showError(e);
  }
}

let typingSent = 0;
function typing() {
  if (Date.now() - typingSent < 1000 || !S.openId || S.conn.state !== "online") return;
  typingSent = Date.now();
  S.conn.request({ typing: { room_id: S.openId } }).catch(() => {});
}

async function act(command, after) {
  try {
    const r = await S.conn.request(command);
    await after?.(r);
  } catch (e) {
    showError(e);
  }
  render();
}

// ---------- screens ----------

function renderAuth(mode = "login", message = "") {
  clear(app);
  const username = h("input", { name: "username", placeholder: "Username", autocomplete: "username", required: true });
  const display = h("input", { name: "display_name", placeholder: "Display name", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    placeholder: "Password (8+ characters)",
    autocomplete: mode === "login" ? "current-password" : "new-password",
    required: true,
  });
  const form = h(
    "form.auth-form",
    {
      on: {
        submit: async (e) => {
          e.preventDefault();
          try {
            if (mode === "login") await api.login(username.value.trim(), password.value);
            else await api.signup(username.value.trim(), display.value.trim(), password.value);
            start();
          } catch (err) {
            renderAuth(mode, err.message);
          }
        },
      },
    },
    h("h1", "Chat"),
    h("p.tagline", mode === "login" ? "Log in to talk with your friends" : "Create your account"),
    username,
    mode === "signup" ? display : null,
    password,
    message ? h("p.form-error", message) : null,
    h("button.primary", { type: "submit" }, mode === "login" ? "Log in" : "Sign up"),
    h(
      "a.switch",
      { href: "#", on: { click: (e) => { e.preventDefault(); renderAuth(mode === "login" ? "signup" : "login"); } } },
      mode === "login" ? "No account? Sign up" : "Have an account? Log in",
    ),
  );
  app.append(h("div.auth", form));
}

function render() {
  if (!S.session) return;
  if (!document.getElementById("shell")) {
    clear(app);
    app.append(h("div#shell", h("aside#sidebar"), h("main#chat")), h("div#modal-root"), h("div#toast"));
  }
  document.getElementById("shell").classList.toggle("has-open-room", !!S.openId);
  renderSidebar();
  renderChat();
  renderModal();
  const toast = document.getElementById("toast");
  clear(toast);
  if (S.error) toast.append(h("div.toast", S.error));
}

function renderStatus() {
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

function renderSidebar() {
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
      h("button", { class: S.tab === "chats" ? "active" : "", on: { click: () => { S.tab = "chats"; render(); } } },
        "Chats", totalUnread ? h("span.badge", totalUnread) : null),
      h("button", { class: S.tab === "friends" ? "active" : "", on: { click: () => { S.tab = "friends"; render(); } } },
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
          h("div.room-top", h("span.room-name", roomTitle(s)), h("span.room-time", shortWhen(s.last_activity_ms))),
          h("div.room-bottom", h("span.room-preview", preview(s.last_message)),
            Number(s.unread) > 0 ? h("span.badge.unread", s.unread) : null),
        ),
      ),
    );
  }
  return h(
    "div.pane",
    h("div.pane-actions", h("button.primary", { on: { click: () => { S.modal = { kind: "group" }; renderModal(); } } }, "New group chat")),
    S.rooms.size ? list : h("p.empty", "No chats yet. Find friends and say hello."),
  );
}

function friendsPane() {
  const input = h("input.search", {
    placeholder: "Search users by name",
    value: S.search.prefix,
    on: {
      input: async (e) => {
        const prefix = e.target.value.trim().toLowerCase();
        S.search.prefix = prefix;
        if (!prefix) {
          S.search.users = [];
          return renderSidebar();
        }
        try {
          const r = await S.conn.request({ search_users: { prefix, limit: 20 } });
          if (S.search.prefix === prefix) {
            S.search.users = r.user_list.users;
            renderSidebar();
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

async function openDirect(userId) {
  await act({ create_direct_room: { peer_id: userId } }, async (r) => {
    const room = r.room;
    if (!S.rooms.has(idOf(room.id))) {
      S.rooms.set(idOf(room.id), { room, last_activity_ms: room.created_at_ms, unread: 0 });
    }
    S.tab = "chats";
    await openRoom(room.id);
  });
}

function renderChat() {
  const main = document.getElementById("chat");
  if (!main) return;
  const summary = S.openId && S.rooms.get(S.openId);
  if (!summary) {
    clear(main);
    delete main.dataset.room;
    main.append(h("div.placeholder", h("p", "Select a chat to start messaging")));
    return;
  }
  // The composer survives re-renders (what is being typed stays); the rest is rebuilt.
  if (main.dataset.room !== S.openId) {
    clear(main);
    main.dataset.room = S.openId;
    main.append(
      h("header.chat-head"),
      h("div#messages.messages", { on: { scroll: onScroll } }),
      h("div.typing"),
      composer(),
    );
  }
  const v = view(S.openId);
  const members = [...v.members.values()];
  const online = members.filter((m) => m.online).length;
  const typingNames = [...v.typing.keys()].map(userName);
  main.querySelector(".chat-head").replaceWith(
    h(
      "header.chat-head",
      h("button.icon.back", { title: "Back", on: { click: () => { S.openId = null; render(); } } }, "‹"),
      h("div.chat-title", h("strong", roomTitle(summary)),
        h("small.members", `${members.length} members · ${online} online`)),
      summary.room.kind === "ROOM_KIND_GROUP"
        ? h("button.small", { on: { click: () => { S.modal = { kind: "invite" }; renderModal(); } } }, "Invite")
        : null,
      h("button.small", { on: { click: () => { S.modal = { kind: "members" }; renderModal(); } } }, "Members"),
      h("button.small.danger", { on: { click: leaveRoom } }, "Leave"),
    ),
  );
  main.querySelector(".typing").textContent = typingNames.length
    ? `${typingNames.join(", ")} ${typingNames.length > 1 ? "are" : "is"} typing…`
    : "";
  renderMessages();
}

function composer() {
  const text = h("textarea", {
    rows: 1,
    placeholder: "Type a message",
    on: {
      input: typing,
      keydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          submit();
        }
      },
    },
  });
  const file = h("input", { type: "file", hidden: true, on: { change: (e) => { const f = e.target.files[0]; if (f) sendFile(f); e.target.value = ""; } } });
  const submit = () => {
    const body = text.value;
    if (!body.trim()) return;
    text.value = "";
    send(body);
  };
  return h(
    "form.composer",
    { on: { submit: (e) => { e.preventDefault(); submit(); } } },
    h("button.icon.attach", { type: "button", title: "Send a file or photo", on: { click: () => file.click() } }, "+"),
    file,
    text,
    h("button.primary.send", { type: "submit" }, "Send"),
  );
}

function onScroll(e) {
  if (e.target.scrollTop < 40 && S.openId) {
    const v = view(S.openId);
    if (!v.hasMore || v.loadingOlder) return;
    const el = e.target;
    const fromBottom = el.scrollHeight - el.scrollTop;
    loadOlder(S.openId).then(() => {
      renderMessages();
      const now = document.getElementById("messages");
      if (now) now.scrollTop = now.scrollHeight - fromBottom;
    });
  }
}

function scrollToBottom() {
  const el = document.getElementById("messages");
  if (el) el.scrollTop = el.scrollHeight;
}

function renderMessages() {
  const el = document.getElementById("messages");
  if (!el || !S.openId) return;
  const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
  const keep = el.scrollHeight - el.scrollTop;
  clear(el);
  const v = view(S.openId);
  if (v.hasMore && v.messages.size) el.append(h("div.more", v.loadingOlder ? "Loading…" : "Scroll up for older messages"));
  let lastDay = "";
  let lastSender = "";
  const mine = idOf(me().id);
  const ordered = [...v.messages.values()].sort((a, b) => Number(a.seq) - Number(b.seq));
  for (const m of ordered) {
    const d = day(m.sent_at_ms);
    if (d !== lastDay) {
      el.append(h("div.day", h("span", d)));
      lastDay = d;
      lastSender = "";
    }
    const own = idOf(m.sender_id) === mine;
    const first = lastSender !== idOf(m.sender_id);
    lastSender = idOf(m.sender_id);
    el.append(bubble(m, own, first));
  }
  for (const p of v.pending.values()) {
    el.append(bubble({ ...p, sender_id: mine, unread: 0, attachments: [], pending: true }, true, false));
  }
  if (atBottom) scrollToBottom();
  else el.scrollTop = el.scrollHeight - keep;
}

function bubble(m, own, first) {
  const content = [];
  if (m.body) content.push(h("div.text", m.body));
  for (const a of m.attachments || []) content.push(attachment(a));
  const photoOnly = !m.body && (m.attachments || []).every((a) => a.content_type.startsWith("image/"));
  return h(
    "div.msg",
    { class: `msg ${own ? "own" : "other"}${m.pending ? " pending" : ""}`, dataset: { seq: m.seq ?? "", clientMsgId: m.client_msg_id } },
    !own && first ? h("div.avatar.small", initials(userName(m.sender_id))) : h("div.avatar-space"),
    h(
      "div.msg-col",
      !own && first ? h("div.sender", userName(m.sender_id)) : null,
      h(
        "div.msg-row",
        h("div.bubble", { class: photoOnly ? "bubble media" : "bubble" }, content),
        h(
          "div.meta",
          Number(m.unread) > 0 ? h("span.unread-count", m.unread) : null,
          h("span.time", m.pending ? "sending…" : time(m.sent_at_ms)),
        ),
      ),
    ),
  );
}

function attachment(a) {
  const full = api.fileUrl(S.session, a.file_id);
  if (a.content_type.startsWith("image/")) {
    const img = h("img.photo", {
      src: api.fileUrl(S.session, a.file_id, "thumbnail"),
      alt: a.name,
      width: a.width && a.width < 240 ? a.width : null,
      loading: "lazy",
    });
    // The thumbnail is made just after upload: until then, show the original.
    img.addEventListener("error", () => { if (img.src !== location.origin + full) img.src = full; }, { once: true });
    return h("a.photo-link", { href: full, target: "_blank", rel: "noopener" }, img);
  }
  const kb = Math.max(1, Math.round(Number(a.size) / 1024));
  return h("a.file", { href: full, download: a.name }, h("span.file-icon", "📄"), h("span", a.name), h("small", ` ${kb} KB`));
}

async function leaveRoom() {
  const id = S.openId;
  if (!confirm("Leave this chat? Its messages will no longer be shown to you.")) return;
  await act({ leave_room: { room_id: id } }, () => {
    S.rooms.delete(id);
    S.views.delete(id);
    S.openId = null;
  });
}

// ---------- modals ----------

function renderModal() {
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
    const v = view(S.openId);
    body = h(
      "div.modal-body",
      h("h2", "Members"),
      h("ul.people", [...v.members.values()].map((m) =>
        h("li.person", h("div.avatar", initials(m.user.display_name),
          h("span", { class: `presence ${m.online ? "on" : "off"}` })), h("span.name", m.user.display_name)))),
      h("div.modal-actions", h("button", { on: { click: close } }, "Close")),
    );
  }
  root.append(h("div.modal", { on: { click: (e) => { if (e.target.classList.contains("modal")) close(); } } }, body));
}

start();
