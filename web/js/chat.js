// The open chat: its header, the messages (with their unread counts), typing, the composer.

import * as api from "./api.js";
import { S, ui, me, idOf, userName, roomTitle, view } from "./state.js";
import { loadOlder, send, sendFile, typing, leaveRoom } from "./actions.js";
import { h, clear, time, day, initials } from "./h.js";

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
      summary.room.kind === "ROOM_KIND_GROUP"
        ? h("button.small", { on: { click: () => { S.modal = { kind: "invite" }; ui.renderModal(); } } }, "Invite")
        : null,
      h("button.small", { on: { click: () => { S.modal = { kind: "members" }; ui.renderModal(); } } }, "Members"),
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

