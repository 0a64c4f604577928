// The open chat: its header, the messages (with their unread counts), typing, the composer.

import * as api from "./api.js";
import { S, ui, me, idOf, userName, roomTitle, view, isChange, isSystem, systemText, ownerOf, preview } from "./state.js";
import { loadOlder, send, sendFile, typing, leaveRoom, editMessage, deleteForEveryone, deleteForMe, toggleReaction, setMuted } from "./actions.js";
import { h, clear, time, day, initials } from "./h.js";
import { mentionPicker, bodyWithMentions } from "./mentions.js";
import { startForward } from "./forward.js";
import { topBars, mayPin, maySetNotice, mayInvite, isPinned, setPinned, setNotice } from "./pins.js";

/** The open composer's mention picker (the composer survives re-renders, and so does it). */
let picker = null;

export function renderChat() {
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
      h("div.top-bars"),
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
      h("button.icon.back", { title: "Back", on: { click: () => { S.openId = null; ui.render(); } } }, "‹"),
      h("div.chat-title", h("strong", roomTitle(summary)),
        h("small.members", `${members.length} members · ${online} online`)),
      summary.room.kind === "ROOM_KIND_GROUP" && mayInvite(summary)
        ? h("button.small", { on: { click: () => { S.modal = { kind: "invite" }; ui.renderModal(); } } }, "Invite")
        : null,
      maySetNotice(summary) && !summary.room.notice
        ? h("button.small", { title: "Set a notice at the top of this chat", on: { click: () => setNotice() } }, "Notice")
        : null,
      h("button.small", { on: { click: () => { S.modal = { kind: "members" }; ui.renderModal(); } } }, "Members"),
      h("button.small.mute", { "aria-pressed": summary.muted ? "true" : "false", title: summary.muted ? "Notifications are off for this chat" : "Turn off notifications for this chat", on: { click: () => setMuted(!summary.muted) } },
        summary.muted ? "Unmute" : "Mute"),
      h("button.small.danger", { on: { click: leaveRoom } }, "Leave"),
    ),
  );
  main.querySelector(".top-bars").replaceWith(topBars(summary, v, jumpTo));
  renderComposeContext();
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
        if (e.isComposing || picker.onKey(e)) return;
        if (e.key === "Enter" && !e.shiftKey) {
          e.preventDefault();
          submit();
        }
      },
    },
  });
  picker = mentionPicker(text);
  const file = h("input", { type: "file", hidden: true, on: { change: (e) => { const f = e.target.files[0]; if (f) sendFile(f); e.target.value = ""; } } });
  const submit = () => {
    const body = text.value;
    if (!body.trim()) return;
    text.value = "";
    const c = S.compose?.roomId === S.openId ? S.compose : null;
    S.compose = null;
    renderComposeContext();
    const mentions = picker.ranges(body);
    if (c?.mode === "edit") editMessage(c.seq, body, mentions);
    else send(body, [], c?.mode === "reply" ? c.seq : 0, mentions);
  };
  return h(
    "form.composer",
    { on: { submit: (e) => { e.preventDefault(); submit(); } } },
    h("div.compose-context", { hidden: true }),
    picker.list,
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

export function scrollToBottom() {
  const el = document.getElementById("messages");
  if (el) el.scrollTop = el.scrollHeight;
}

export function renderMessages() {
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
    // Edits and deletes show on their target, not as messages.
    if (isChange(m)) continue;
    const d = day(m.sent_at_ms);
    if (d !== lastDay) {
      el.append(h("div.day", h("span", d)));
      lastDay = d;
      lastSender = "";
    }
    if (isSystem(m)) {
      el.append(h("div.system", { dataset: { seq: m.seq } }, h("span", systemText(m))));
      lastSender = "";
      continue;
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
  if (m.forwarded && !m.deleted) content.push(h("div.forwarded", "Forwarded"));
  if (m.reply_to) content.push(quote(m.reply_to));
  if (m.deleted) content.push(h("div.tombstone", "This message was deleted"));
  if (m.body) content.push(h("div.text", bodyWithMentions(m)));
  for (const a of m.attachments || []) content.push(attachment(a));
  const photoOnly = !m.body && !m.deleted && !m.reply_to && !m.forwarded && (m.attachments || []).every((a) => a.content_type.startsWith("image/"));
  return h(
    "div.msg",
    { class: `msg ${own ? "own" : "other"}${m.pending ? " pending" : ""}`, dataset: { seq: m.seq ?? "", clientMsgId: m.client_msg_id } },
    !own && first ? h("div.avatar.small", initials(userName(m.sender_id))) : h("div.avatar-space"),
    h(
      "div.msg-col",
      !own && first ? h("div.sender", userName(m.sender_id)) : null,
      h(
        "div.msg-row",
        h("div.bubble-col",
          h("div.bubble", { class: photoOnly ? "bubble media" : "bubble" }, content),
          m.reactions?.length ? reactionChips(m) : null),
        h(
          "div.meta",
          Number(m.unread) > 0 ? h("span.unread-count", m.unread) : null,
          Number(m.edited_at_ms) > 0 && !m.deleted ? h("span.edited", "edited") : null,
          h("span.time", m.pending ? "sending…" : time(m.sent_at_ms)),
        ),
        m.pending || m.deleted
          ? null
          : h("button.icon.msg-menu", { type: "button", title: "Message actions", "aria-haspopup": "menu", on: { click: (e) => openMenu(e.currentTarget, m, own) } }, "⋯"),
      ),
    ),
  );
}

/** A message's reactions as chips: emoji and count, mine highlighted; a click toggles mine. */
function reactionChips(m) {
  return h(
    "div.reactions",
    m.reactions.map((r) =>
      h(
        "button.chip",
        {
          type: "button",
          class: r.mine ? "chip mine" : "chip",
          "aria-pressed": r.mine ? "true" : "false",
          title: (r.first_user_ids || []).map(userName).join(", "),
          on: { click: () => toggleReaction(m, r.emoji) },
        },
        `${r.emoji} ${r.count}`,
      ),
    ),
  );
}

const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

/** The quoted message of a reply; a click scrolls to it when it is loaded. */
function quote(q) {
  const what = q.deleted
    ? "Deleted message"
    : q.preview || (q.attachment_type?.startsWith("image/") ? "Photo" : q.attachment_type ? "File" : "");
  return h(
    "button.quote",
    { type: "button", title: "Show the original", on: { click: () => jumpTo(q.seq) } },
    h("strong", userName(q.sender_id)),
    h("span", what),
  );
}

export function jumpTo(seq) {
  const el = document.querySelector(`#messages .msg[data-seq="${Number(seq)}"]`);
  if (!el) return;
  el.scrollIntoView({ block: "center" });
  el.classList.add("flash");
  setTimeout(() => el.classList.remove("flash"), 1200);
}

/** The composer's reply or edit bar. */
function renderComposeContext() {
  const bar = document.querySelector(".compose-context");
  if (!bar) return;
  const c = S.compose?.roomId === S.openId ? S.compose : null;
  clear(bar);
  bar.hidden = !c;
  if (!c) return;
  const m = view(S.openId).messages.get(Number(c.seq));
  const label = c.mode === "edit" ? "Editing your message" : `Replying to ${userName(m?.sender_id)}`;
  bar.append(
    h("span.compose-label", h("strong", label), h("span", m?.body || "")),
    h("button.icon", { type: "button", title: "Cancel", on: { click: () => { S.compose = null; renderComposeContext(); } } }, "✕"),
  );
}

function startCompose(mode, m) {
  S.compose = { mode, seq: Number(m.seq), roomId: S.openId };
  renderComposeContext();
  const text = document.querySelector(".composer textarea");
  if (!text) return;
  if (mode === "edit") text.value = m.body;
  picker?.reset(mode === "edit" ? m : null);
  text.focus();
}

/** The actions on one message, in a small menu by its button. */
function openMenu(button, m, own) {
  closeMenu();
  const summary = S.rooms.get(S.openId);
  const owner = summary?.room.kind === "ROOM_KIND_GROUP" && ownerOf(summary) === idOf(me().id);
  const item = (label, fn) => h("button", { type: "button", role: "menuitem", on: { click: () => { closeMenu(); fn(); } } }, label);
  const menu = h(
    "div.msg-actions",
    { role: "menu" },
    h("div.quick-reactions", QUICK_REACTIONS.map((e) =>
      h("button", { type: "button", role: "menuitem", title: `React with ${e}`, "aria-label": `React with ${e}`, on: { click: () => { closeMenu(); toggleReaction(m, e); } } }, e))),
    item("Reply", () => startCompose("reply", m)),
    item("Forward", () => { startForward(m, preview(m)); ui.renderModal(); }),
    m.body ? item("Copy", () => navigator.clipboard?.writeText(m.body).catch(() => {})) : null,
    own && m.body ? item("Edit", () => startCompose("edit", m)) : null,
    own || owner ? item("Delete for everyone", () => deleteForEveryone(m.seq)) : null,
    mayPin(summary)
      ? item(isPinned(view(S.openId), m.seq) ? "Unpin" : "Pin", () => setPinned(m, !isPinned(view(S.openId), m.seq)))
      : null,
    maySetNotice(summary) && m.body ? item("Set as notice", () => setNotice(m.body)) : null,
    item("Delete for me", () => deleteForMe(m.seq)),
  );
  document.body.append(menu);
  const r = button.getBoundingClientRect();
  menu.style.top = `${Math.min(r.bottom + 4, window.innerHeight - menu.offsetHeight - 8)}px`;
  menu.style.left = `${Math.max(8, Math.min(r.left, window.innerWidth - menu.offsetWidth - 8))}px`;
  menu.querySelector("button")?.focus();
  setTimeout(() => document.addEventListener("click", closeMenu, { once: true }));
  menu.addEventListener("keydown", (e) => { if (e.key === "Escape") closeMenu(); });
}

function closeMenu() {
  // A menu closed with Escape leaves its click-outside listener behind, which would close
  // the next menu the moment its button's click reaches the document.
  document.removeEventListener("click", closeMenu);
  document.querySelector(".msg-actions")?.remove();
}

/** Signed file URLs (no token in them), cached until a minute before they expire. */
const signedUrls = new Map();

async function signedUrl(fileId, thumbnail = false) {
  const key = `${fileId}:${thumbnail}`;
  const hit = signedUrls.get(key);
  if (hit && hit.expires - 60_000 > Date.now()) return hit.url;
  const { file_url: u } = await S.conn.request({ get_file_url: { file_id: fileId, thumbnail } });
  signedUrls.set(key, { url: u.url, expires: Number(u.expires_at_ms) });
  return u.url;
}

/** Points `el[attr]` at a signed URL of the file, now and whenever it is used later. */
function linkTo(el, attr, fileId) {
  signedUrl(fileId).then((url) => { el[attr] = url; }, () => {});
  // A page left open for hours holds expired links: renew before following one.
  el.addEventListener("click", async (e) => {
    const hit = signedUrls.get(`${fileId}:false`);
    if (hit && hit.expires - 60_000 > Date.now()) return;
    e.preventDefault();
    el[attr] = await signedUrl(fileId);
    el.click();
  });
}

function attachment(a) {
  if (a.content_type.startsWith("image/")) {
    const img = h("img.photo", {
      alt: a.name,
      width: a.width && a.width < 240 ? a.width : null,
      loading: "lazy",
    });
    // The thumbnail is made just after upload: until then, show the original.
    const original = () => signedUrl(a.file_id).then((url) => { img.src = url; }, () => {});
    signedUrl(a.file_id, true).then((url) => { img.src = url; }, original);
    img.addEventListener("error", original, { once: true });
    const link = h("a.photo-link", { target: "_blank", rel: "noopener" }, img);
    linkTo(link, "href", a.file_id);
    return link;
  }
  const kb = Math.max(1, Math.round(Number(a.size) / 1024));
  const link = h("a.file", { download: a.name }, h("span.file-icon", "📄"), h("span", a.name), h("small", ` ${kb} KB`));
  linkTo(link, "href", a.file_id);
  return link;
}

