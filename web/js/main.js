// Web Kakao: the browser client. State lives in `S` (state.js); the screen is rebuilt from it
// (text only ever enters the DOM as text nodes, see h.js). Views: login.js, chatlist.js,
// friends.js, chat.js, dialogs.js; events.js applies what the server sends, actions.js what
// the user does.

import * as api from "./api.js";
import { S, ui, me, idOf, sortedRooms, ensureUsers, showError } from "./state.js";
import { Connection } from "./conn.js";
import { onEvent } from "./events.js";
import { openRoom, onOutbox, loadFriends, markReadSoon } from "./actions.js";
import { renderAuth } from "./login.js";
import { renderSidebar, renderStatus } from "./chatlist.js";
import { renderChat, renderMessages, scrollToBottom } from "./chat.js";
import { renderModal } from "./dialogs.js";
import { h, clear } from "./h.js";

const app = document.getElementById("app");
// For tests and debugging: the state and the connection.
window.chatApp = S;

function start() {
  S.session = api.savedSession();
  if (!S.session) return renderAuth(start);
  S.users.set(idOf(me().id), me());
  S.conn = new Connection(S.session, {
    onEvent,
    onReady,
    onOutbox,
    polling: new URLSearchParams(location.search).get("transport") === "poll",
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
  render();
  S.conn.start();
  window.addEventListener("online", () => S.conn.reconnectNow());
  document.addEventListener("visibilitychange", () => markReadSoon());
}

/** After every (re)connection (the SDK re-opened the room and resends the outbox): refresh
 * the lists and the open room's counts. */
async function onReady() {
  try {
    const list = await S.conn.request({ list_rooms: { limit: 200 } });
    for (const summary of list.room_list.rooms || []) S.rooms.set(idOf(summary.room.id), summary);
    await ensureUsers(sortedRooms().flatMap((s) => s.room.member_ids || []));
    await loadFriends();
    render();
    if (S.openId) await openRoom(S.openId, true);
  } catch (e) {
    if (!e.retryable) showError(e);
  }
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

Object.assign(ui, {
  render,
  renderSidebar,
  renderChat,
  renderMessages,
  renderModal,
  renderStatus,
  scrollToBottom,
});

start();
