// What the user does: open a room, page back, mark read, send through the SDK's outbox
// (retried with the same client_msg_id), upload, type, and the other commands. The SDK
// re-opens the open room by seq after a reconnection.

import * as api from "./api.js";
import { S, ui, me, idOf, view, maxSeq, minSeq, ensureUsers, showError, isChange, applyChange } from "./state.js";

export async function openRoom(roomId, recovering = false) {
  const id = idOf(roomId);
  const previous = S.openId;
  if (previous && previous !== id) {
    S.conn.closeRoom(previous).catch(() => {});
    view(previous).opened = false;
  }
  S.openId = id;
  const v = view(id);
  ui.render();
  if (S.conn.state !== "online") return;
  try {
    if (!recovering && !v.opened) {
      // Read receipts were not followed while the room was closed: start from a fresh page.
      v.messages.clear();
      v.hasMore = true;
    }
    const since = maxSeq(v);
    const r = await S.conn.openRoom(id);
    v.opened = true;
    for (const m of r.room_opened.members || []) {
      S.users.set(idOf(m.user.id), m.user);
      v.members.set(idOf(m.user.id), m);
    }
    v.pinned = r.room_opened.pinned || [];
    const summary = S.rooms.get(id);
    if (summary) summary.room = r.room_opened.room;
    if (v.messages.size === 0) await loadOlder(id);
    else await refreshCounts(id, since);
    markReadSoon();
    ui.render();
    ui.scrollToBottom();
  } catch (e) {
    if (!e.retryable) showError(e);
  }
}

export async function loadOlder(roomId) {
  const v = view(roomId);
  if (v.loadingOlder || !v.hasMore) return;
  v.loadingOlder = true;
  try {
    const before = minSeq(v);
    const r = await S.conn.request({
      get_history: { room_id: roomId, before_seq: before, limit: 30 },
    });
    const page = r.history.messages || [];
    for (const m of page) v.messages.set(Number(m.seq), m);
    // A page's messages already show its changes; older copies held here may not.
    for (const m of page) if (isChange(m)) applyChange(v, m);
    v.hasMore = r.history.has_more;
    await ensureUsers((r.history.messages || []).map((m) => m.sender_id));
  } finally {
    v.loadingOlder = false;
  }
}

/** After a reconnection: read receipts sent meanwhile were missed; take the current unread
 * counts of the newest messages shown (older ones count on the next open). */
export async function refreshCounts(roomId, through) {
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
export function markReadSoon() {
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
      if (summary) summary.unread = summary.mention_count = 0;
      ui.renderSidebar();
    } catch {
      // Marked on the next message or reconnect.
    }
  }, 250);
}

export function send(body, fileIds = [], replyTo = 0, mentions = []) {
  const roomId = S.openId;
  const clientMsgId = S.conn.send(roomId, body, fileIds, replyTo, mentions);
  const quoted = replyTo ? view(roomId).messages.get(Number(replyTo)) : null;
  view(roomId).pending.set(clientMsgId, {
    room_id: roomId,
    client_msg_id: clientMsgId,
    body,
    file_ids: fileIds,
    mentions,
    sent_at_ms: Date.now(),
    reply_to: quoted ? { seq: quoted.seq, sender_id: quoted.sender_id, preview: quoted.body } : undefined,
  });
  ui.renderMessages();
  ui.scrollToBottom();
}

/** Replaces the body of one of the user's messages (errors, e.g. past the edit window, are
 * shown through the outbox). */
export function editMessage(seq, body, mentions = []) {
  S.conn.edit(S.openId, seq, body, mentions);
}

/** Mutes or unmutes the open room (on all my devices: they hear it as room_settings). */
export async function setMuted(muted) {
  const id = S.openId;
  try {
    await S.conn.client.setRoomMuted(BigInt(id), muted);
    const summary = S.rooms.get(id);
    if (summary) summary.muted = muted;
  } catch (e) {
    showError(e);
  }
  ui.render();
}

/** Adds my reaction, or takes it back when I already reacted with that emoji. */
export function toggleReaction(m, emoji) {
  const mine = (m.reactions || []).some((r) => r.emoji === emoji && r.mine);
  S.conn.react(S.openId, m.seq, emoji, !mine);
}

/** Deletes a message for everyone, after asking. */
export function deleteForEveryone(seq) {
  if (!confirm("Delete this message for everyone?")) return;
  S.conn.remove(S.openId, seq);
}

/** Hides a message from this user's view on all their devices, after asking. */
export function deleteForMe(seq) {
  if (!confirm("Delete this message for you? Others still see it.")) return;
  act({ hide_message: { room_id: S.openId, seq } }, () => {
    view(S.openId).messages.delete(Number(seq));
  });
}

/** A send the server refused for good (or that timed out) is dropped and said so. */
export function onOutbox(entry) {
  if (entry.state !== "failed") return;
  view(idOf(entry.roomId)).pending.delete(entry.clientMsgId);
  S.conn.client.discardSend(entry.clientMsgId);
  showError(entry.error);
  ui.renderMessages();
}

export async function sendFile(file) {
  try {
    const info = await api.upload(S.session, file);
    send("", [info.id]);
  } catch (e) {
    showError(e);
  }
}

let typingSent = 0;
export function typing() {
  if (Date.now() - typingSent < 1000 || !S.openId || S.conn.state !== "online") return;
  typingSent = Date.now();
  S.conn.request({ typing: { room_id: S.openId } }).catch(() => {});
}

export async function act(command, after) {
  try {
    const r = await S.conn.request(command);
    await after?.(r);
  } catch (e) {
    showError(e);
  }
  ui.render();
}

export async function loadFriends() {
  const r = await S.conn.request({ list_friends: {} });
  S.friends = r.friends;
  for (const f of S.friends.friends) S.users.set(idOf(f.user.id), f.user);
  for (const u of [...S.friends.incoming, ...S.friends.outgoing]) S.users.set(idOf(u.id), u);
}

export async function openDirect(userId) {
  await act({ create_direct_room: { peer_id: userId } }, async (r) => {
    const room = r.room;
    if (!S.rooms.has(idOf(room.id))) {
      S.rooms.set(idOf(room.id), { room, last_activity_ms: room.created_at_ms, unread: 0 });
    }
    S.tab = "chats";
    await openRoom(room.id);
  });
}

export async function leaveRoom() {
  const id = S.openId;
  if (!confirm("Leave this chat? Its messages will no longer be shown to you.")) return;
  await act({ leave_room: { room_id: id } }, () => {
    S.rooms.delete(id);
    S.views.delete(id);
    S.openId = null;
  });
}

