// Events from the server: messages, chat-list updates, read receipts, membership, presence,
// typing and friends, applied to the state and re-rendered.

import { S, ui, me, idOf, view, ensureUsers, isChange, isSystem, applyChange, applySystem } from "./state.js";
import { loadFriends, markReadSoon } from "./actions.js";
import { applyPins } from "./pins.js";

export function onEvent(e) {
  if (e.message) return onMessage(e.message);
  if (e.room_update) return onRoomUpdate(e.room_update);
  if (e.room_added) {
    const s = e.room_added.room;
    S.rooms.set(idOf(s.room.id), s);
    ensureUsers(s.room.member_ids || []).then(ui.render);
    return ui.render();
  }
  if (e.room_settings) {
    const summary = S.rooms.get(idOf(e.room_settings.room_id));
    if (summary) summary.muted = e.room_settings.muted;
    return ui.render();
  }
  if (e.message_hidden) {
    view(e.message_hidden.room_id).messages.delete(Number(e.message_hidden.seq));
    return ui.renderChat();
  }
  if (e.read_receipt) return onReadReceipt(e.read_receipt);
  if (e.members_changed) return onMembersChanged(e.members_changed);
  if (e.presence_changed) {
    const p = e.presence_changed;
    const m = view(p.room_id).members.get(idOf(p.user_id));
    if (m) m.online = p.online;
    return ui.renderChat();
  }
  if (e.typing_started) return onTyping(e.typing_started);
  if (e.friend_request_received || e.friend_request_accepted) {
    return loadFriends().then(ui.render, () => {});
  }
  if (e.friend_presence) {
    const f = S.friends.friends.find((x) => idOf(x.user.id) === idOf(e.friend_presence.user_id));
    if (f) f.online = e.friend_presence.online;
    return ui.renderSidebar();
  }
}

function onMessage(m) {
  const roomId = idOf(m.room_id);
  const v = view(roomId);
  const seq = Number(m.seq);
  if (v.messages.has(seq)) return;
  v.messages.set(seq, m);
  v.pending.delete(m.client_msg_id);
  const summary = S.rooms.get(roomId);
  if (isSystem(m)) {
    // A line, not a message: the chat list keeps showing the newest message.
    applySystem(summary, m);
    applyPins(roomId, m);
    ensureUsers([m.sender_id, ...(m.system?.user_ids || [])]).then(ui.render);
  } else if (isChange(m)) {
    const target = applyChange(v, m);
    applyPins(roomId, m, target);
    if (target && summary?.last_message && summary.last_message.seq === target.seq) summary.last_message = target;
  } else {
    v.typing.delete(idOf(m.sender_id));
    if (summary && Number(summary.last_message?.seq || 0) < seq) {
      summary.last_message = m;
      summary.last_activity_ms = m.sent_at_ms;
    }
  }
  if (roomId === S.openId) markReadSoon();
  ui.render();
}

function onRoomUpdate(u) {
  const summary = S.rooms.get(idOf(u.room_id));
  if (!summary) return;
  if (u.name) summary.room.name = u.name;
  if (Number(u.owner_id)) summary.room.owner_id = u.owner_id;
  // A room without messages yet (renamed, say) has no newest message to show.
  if (Number(u.sender_id)) {
    summary.last_message = {
      seq: u.last_seq,
      sender_id: u.sender_id,
      body: u.preview,
      sent_at_ms: u.sent_at_ms,
      attachments: [],
    };
    summary.last_activity_ms = u.sent_at_ms;
  }
  summary.unread = u.unread;
  summary.mention_count = u.mention_count;
  ui.renderSidebar();
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
  if (idOf(r.room_id) === S.openId) ui.renderMessages();
}

function onMembersChanged(c) {
  const roomId = idOf(c.room_id);
  // Removed, or left on another device: the chat goes away here too.
  if ((c.left || []).some((id) => idOf(id) === idOf(me().id))) {
    S.rooms.delete(roomId);
    S.views.delete(roomId);
    if (S.openId === roomId) S.openId = null;
    return ui.render();
  }
  const v = view(c.room_id);
  for (const id of c.left || []) v.members.delete(idOf(id));
  for (const id of c.joined || []) {
    v.members.set(idOf(id), { user: S.users.get(idOf(id)) || { id }, online: false, last_read_seq: "0" });
  }
  const summary = S.rooms.get(idOf(c.room_id));
  if (summary) summary.room.member_ids = c.member_ids;
  ensureUsers(c.joined || []).then(ui.render);
  ui.render();
}

function onTyping(t) {
  if (idOf(t.user_id) === idOf(me().id)) return;
  const v = view(t.room_id);
  clearTimeout(v.typing.get(idOf(t.user_id)));
  v.typing.set(
    idOf(t.user_id),
    setTimeout(() => {
      v.typing.delete(idOf(t.user_id));
      ui.renderChat();
    }, Number(t.ttl_ms) || 5000),
  );
  ui.renderChat();
}

