// End-to-end test of the browser client: two users in two browser contexts of Debian's
// chromium, against a real node (BASE_URL). Run by the node's integration test `web`.
//
//   BASE_URL=http://127.0.0.1:8080 CHROMIUM=/usr/bin/chromium SCREENSHOTS=dir node e2e.mjs

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { deflateSync } from "node:zlib";

const BASE = process.env.BASE_URL;
const SHOTS = process.env.SCREENSHOTS || "screenshots";
const WAIT = 20_000;
assert.ok(BASE, "BASE_URL is required");
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const step = (name) => console.log(`- ${name}`);
const tag = Date.now().toString(36);

/** A user in a browser context of their own; `cut` controls their WebSocket. */
async function user(name, { width = 1200, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => console.error(`[${name}] page error: ${e.message}`));
  const net = { blocked: false, sockets: [] };
  await page.routeWebSocket(/\/v1\/ws/, (ws) => {
    if (net.blocked) {
      ws.close({ code: 1006 });
      return;
    }
    const server = ws.connectToServer();
    net.sockets.push({ ws, server });
  });
  net.cut = () => {
    for (const { ws, server } of net.sockets.splice(0)) {
      server.close();
      ws.close({ code: 1006 });
    }
  };
  await page.goto(BASE);
  return { name, username: `${name}_${tag}`, page, net };
}

async function signUp(u, display) {
  const p = u.page;
  await p.getByText("No account? Sign up").click();
  await p.fill("input[name=username]", u.username);
  await p.fill("input[name=display_name]", display);
  await p.fill("input[name=password]", "correct horse battery");
  await p.getByRole("button", { name: "Sign up" }).click();
  await p.locator("#conn-state[data-state=online]").waitFor();
}

const bubbles = (page) => page.locator("#messages .msg");
const messageText = (page, text) => page.locator("#messages .msg .text", { hasText: text });

/** The seqs of the messages shown, in screen order: must be 1..n with nothing twice. */
async function shownSeqs(page) {
  return page.$$eval("#messages .msg[data-seq]", (els) =>
    els.map((e) => Number(e.dataset.seq)).filter((s) => s > 0));
}

async function assertDense(page, expected) {
  const seqs = await shownSeqs(page);
  const first = seqs[0];
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => first + i), `seqs ${seqs}`);
  if (expected) assert.equal(seqs.at(-1), expected, `last seq ${seqs.at(-1)} != ${expected}`);
}

async function sendText(page, text) {
  await page.fill(".composer textarea", text);
  await page.press(".composer textarea", "Enter");
  await page.locator(`#messages .msg.own:not(.pending) .text`, { hasText: text }).waitFor();
}

/** A small valid PNG (solid colour), built here so the test needs no fixture files. */
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0)]);
  for (let x = 0; x < width; x++) row.set([254, 229, 0], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

try {
  const ann = await user("ann");
  const ben = await user("ben");
  await ann.page.screenshot({ path: `${SHOTS}/01-login.png` });

  step("sign up, in two browsers");
  await signUp(ann, "Ann Lee");
  await signUp(ben, "Ben Kim");

  step("befriend: search, request, accept; the friend shows online");
  await ann.page.getByRole("button", { name: "Friends" }).click();
  await ann.page.fill("input.search", ben.username.slice(0, 6));
  await ann.page.locator(".results .person", { hasText: "Ben Kim" }).getByRole("button", { name: "Add" }).click();
  await ben.page.getByRole("button", { name: /Friends/ }).click();
  await ben.page.locator(".person", { hasText: "Ann Lee" }).getByRole("button", { name: "Accept" }).click();
  await ann.page.locator(".friend", { hasText: "Ben Kim" }).locator(".presence.on").waitFor();
  await ann.page.screenshot({ path: `${SHOTS}/02-friends.png` });

  step("open the direct room and talk both ways");
  await ann.page.locator(".friend", { hasText: "Ben Kim" }).click();
  await sendText(ann.page, "Hi Ben! Ça va? <b>not bold</b>");
  await ben.page.getByRole("button", { name: /Chats/ }).click();
  await ben.page.locator(".room-item", { hasText: "Ann Lee" }).click();
  await messageText(ben.page, "Hi Ben!").waitFor();
  // User text is text: the markup shows as typed.
  assert.equal(await ben.page.locator("#messages b").count(), 0);
  await sendText(ben.page, "Hello Ann");
  await messageText(ann.page, "Hello Ann").waitFor();

  step("the sender's unread count goes from 1 to 0 when the other reads");
  await ben.page.getByRole("button", { name: /Friends/ }).click();
  await ben.page.evaluate(() => {
    window.chatApp.openId = null;
  });
  await ben.page.getByRole("button", { name: /Chats/ }).click();
  const directId = await ann.page.evaluate(() => window.chatApp.openId);
  // Ben's client closes the room when it switches away; make sure it did.
  await ben.page.evaluate((id) => window.chatApp.conn.request({ close_room: { room_id: id } }), directId);
  await sendText(ann.page, "Are you there?");
  const mine = ann.page.locator("#messages .msg.own", { hasText: "Are you there?" });
  await mine.locator(".unread-count", { hasText: "1" }).waitFor();
  await ben.page.locator(".room-item", { hasText: "Ann Lee" }).locator(".unread").waitFor();
  await ben.page.locator(".room-item", { hasText: "Ann Lee" }).click();
  await messageText(ben.page, "Are you there?").waitFor();
  await mine.locator(".unread-count").waitFor({ state: "detached" });

  step("a third room's chat-list entry updates while another room is open");
  await ann.page.getByRole("button", { name: "New group chat" }).click();
  await ann.page.fill(".modal input[placeholder='Group name']", "Book club");
  await ann.page.locator(".modal label", { hasText: "Ben Kim" }).locator("input").check();
  await ann.page.getByRole("button", { name: "Create" }).click();
  await ann.page.locator(".chat-title", { hasText: "Book club" }).waitFor();
  await sendText(ann.page, "Chapter 3 tonight?");
  const groupItem = ben.page.locator(".room-item", { hasText: "Book club" });
  await groupItem.locator(".room-preview", { hasText: "Chapter 3 tonight?" }).waitFor();
  await groupItem.locator(".unread", { hasText: "1" }).waitFor();
  // Newest activity first: the group moved to the top of Ben's list.
  assert.match(await ben.page.locator(".room-item").first().innerText(), /Book club/);
  // Ben still has the direct room open.
  await ben.page.locator(".chat-title", { hasText: "Ann Lee" }).waitFor();
  await ben.page.screenshot({ path: `${SHOTS}/03-chat.png` });

  step("scroll back loads older messages");
  const groupId = await ann.page.evaluate(() => window.chatApp.openId);
  await ann.page.evaluate(async (room) => {
    for (let i = 1; i <= 45; i++) {
      await window.chatApp.conn.request({
        send_message: { room_id: room, client_msg_id: `bulk-${i}`, body: `bulk message ${i}` },
      });
    }
  }, groupId);
  await groupItem.click();
  await messageText(ben.page, "bulk message 45").waitFor();
  assert.equal(await messageText(ben.page, "Chapter 3 tonight?").count(), 0, "the first page holds the newest only");
  // Each scroll to the top loads one older page: wait for it to arrive, then scroll again.
  for (let i = 0; i < 10 && (await messageText(ben.page, "Chapter 3 tonight?").count()) === 0; i++) {
    const before = await bubbles(ben.page).count();
    await ben.page.locator("#messages").evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event("scroll")); });
    await ben.page.waitForFunction((n) => document.querySelectorAll("#messages .msg").length > n, before);
  }
  await messageText(ben.page, "Chapter 3 tonight?").waitFor();
  await assertDense(ben.page, 46);

  step("an image is sent and shown");
  await ann.page.locator(".composer input[type=file]").setInputFiles({
    name: "yellow.png",
    mimeType: "image/png",
    buffer: png(64, 48),
  });
  const photo = ben.page.locator("#messages img.photo");
  await photo.waitFor();
  await ben.page.waitForFunction(() => {
    const img = document.querySelector("#messages img.photo");
    return img && img.complete && img.naturalWidth > 0;
  });

  step("the WebSocket is cut and restored: nothing lost, nothing twice");
  ben.net.blocked = true;
  ben.net.cut();
  await ben.page.locator("#conn-state:not([data-state=online])").waitFor();
  for (let i = 1; i <= 3; i++) await sendText(ann.page, `while you were away ${i}`);
  ben.net.blocked = false;
  await ben.page.locator("#conn-state[data-state=online]").waitFor({ timeout: 60_000 });
  for (let i = 1; i <= 3; i++) await messageText(ben.page, `while you were away ${i}`).waitFor();
  await sendText(ann.page, "and after");
  await messageText(ben.page, "and after").waitFor();
  await assertDense(ben.page, 51);
  for (let i = 1; i <= 3; i++) {
    assert.equal(await messageText(ben.page, `while you were away ${i}`).count(), 1);
  }
  assert.match(await ben.page.locator("#conn-state").innerText(), /^Online$/);

  step("with WebSockets blocked, the client falls back to long polling and keeps working");
  ben.net.blocked = true;
  ben.net.cut();
  await ben.page.locator("#conn-state", { hasText: "long polling" }).waitFor({ timeout: 60_000 });
  await sendText(ann.page, "over long polling");
  await messageText(ben.page, "over long polling").waitFor();
  await sendText(ben.page, "polling back");
  await messageText(ann.page, "polling back").waitFor();
  await assertDense(ben.page, 53);

  step("when WebSockets work again, the client moves back to one and keeps working");
  ben.net.blocked = false;
  await ben.page.waitForFunction(() => window.chatApp.conn.client.transportKind === "websocket", null, { timeout: 90_000 });
  await ben.page.locator("#conn-state[data-state=online]").waitFor();
  assert.match(await ben.page.locator("#conn-state").innerText(), /^Online$/);
  await sendText(ann.page, "socket again");
  await messageText(ben.page, "socket again").waitFor();
  await assertDense(ben.page, 54);
  assert.equal(await messageText(ben.page, "socket again").count(), 1);

  step("reply, edit, react and unsend between two users");
  const msgWith = (page, text, own = "") =>
    page.locator(`#messages .msg${own}`, { has: page.locator(".text", { hasText: text }) });
  const menu = async (page, msg, action) => {
    await msg.hover();
    await msg.locator(".msg-menu").click();
    await page.getByRole("menuitem", { name: action }).click();
  };
  await menu(ben.page, msgWith(ben.page, "socket again"), "Reply");
  await ben.page.locator(".compose-context", { hasText: "Replying to Ann Lee" }).waitFor();
  await sendText(ben.page, "got it");
  await msgWith(ann.page, "got it").locator(".quote", { hasText: "socket again" }).waitFor();
  await menu(ann.page, msgWith(ann.page, "socket again", ".own"), "Edit");
  await ann.page.locator(".compose-context", { hasText: "Editing your message" }).waitFor();
  await sendText(ann.page, "socket again, edited");
  await msgWith(ben.page, "socket again, edited").locator(".edited").waitFor();
  await msgWith(ben.page, "got it").locator(".quote", { hasText: "socket again, edited" }).waitFor();
  await menu(ben.page, msgWith(ben.page, "socket again, edited"), "React with 👍");
  const chip = msgWith(ann.page, "socket again, edited", ".own").locator(".chip", { hasText: "👍" });
  await chip.filter({ hasText: "1" }).waitFor();
  await chip.click();
  await ann.page.locator(".chip.mine", { hasText: "👍 2" }).waitFor();
  await msgWith(ben.page, "socket again, edited").locator(".chip.mine", { hasText: "👍 2" }).waitFor();
  await chip.click();
  await ann.page.locator(".chip:not(.mine)", { hasText: "👍 1" }).waitFor();
  ben.page.once("dialog", (d) => d.accept());
  await menu(ben.page, msgWith(ben.page, "got it", ".own"), "Delete for everyone");
  await ann.page.locator("#messages .tombstone").waitFor();
  await messageText(ann.page, "got it").waitFor({ state: "detached" });
  await ann.page.screenshot({ path: `${SHOTS}/06-reply-edit-unsend.png` });
  // Delete for me: gone for Ann, still there for Ben.
  ann.page.once("dialog", (d) => d.accept());
  await menu(ann.page, msgWith(ann.page, "over long polling", ".own"), "Delete for me");
  await messageText(ann.page, "over long polling").waitFor({ state: "detached" });
  await messageText(ben.page, "over long polling").waitFor();

  step("mentions: picked from the members as one types @, highlighted, counted in the chat list");
  const composerText = (page) => page.locator(".composer textarea");
  await composerText(ann.page).fill("");
  await composerText(ann.page).pressSequentially("see you @be");
  await ann.page.locator(".mention-picker li", { hasText: "@Ben Kim" }).waitFor();
  await composerText(ann.page).press("Enter");
  assert.equal(await composerText(ann.page).inputValue(), "see you @Ben Kim ");
  await composerText(ann.page).pressSequentially("at 7");
  await composerText(ann.page).press("Enter");
  await msgWith(ben.page, "see you @Ben Kim at 7").locator(".mention.me", { hasText: "@Ben Kim" }).waitFor();
  await msgWith(ann.page, "see you @Ben Kim at 7", ".own").locator(".mention:not(.me)").waitFor();
  await ben.page.screenshot({ path: `${SHOTS}/07-mention.png` });
  // With the group closed on Ben's side, an @all there shows as a mention badge.
  await ben.page.locator(".room-item", { hasText: "Ann Lee" }).click();
  await ben.page.locator(".chat-title", { hasText: "Ann Lee" }).waitFor();
  await composerText(ann.page).pressSequentially("@al");
  await ann.page.locator(".mention-picker li", { hasText: "@all" }).click();
  await composerText(ann.page).pressSequentially("vote please");
  await composerText(ann.page).press("Enter");
  await groupItem.locator(".badge.mention").waitFor();
  await groupItem.locator(".unread").waitFor();
  await groupItem.click();
  await msgWith(ben.page, "vote please").locator(".mention.me", { hasText: "@all" }).waitFor();
  await groupItem.locator(".badge.mention").waitFor({ state: "detached" });

  step("mute: the chat shows as muted and still counts unread");
  await ann.page.locator(".chat-head .mute", { hasText: "Mute" }).click();
  await ann.page.locator(".chat-head .mute[aria-pressed=true]", { hasText: "Unmute" }).waitFor();
  const annGroup = ann.page.locator(".room-item", { hasText: "Book club" });
  await annGroup.locator(".muted-mark").waitFor();
  await ann.page.locator(".room-item", { hasText: "Ben Kim" }).click();
  await sendText(ben.page, "muted but counted");
  await annGroup.locator(".badge.unread.quiet", { hasText: "1" }).waitFor();
  await ann.page.screenshot({ path: `${SHOTS}/08-muted.png` });
  await annGroup.click();
  // Opening the chat reads it.
  await annGroup.locator(".unread").waitFor({ state: "detached" });
  await ann.page.locator(".chat-head .mute", { hasText: "Unmute" }).click();
  await annGroup.locator(".muted-mark").waitFor({ state: "detached" });

  step("the owner renames the group and hands it over; both see the lines in the timeline");
  await ann.page.locator(".chat-head").getByRole("button", { name: "Members" }).click();
  await ann.page.locator(".modal .person", { hasText: "Ann Lee" }).locator(".owner-mark").waitFor();
  assert.equal(await ben.page.locator(".modal").count(), 0);
  await ann.page.locator(".modal .share-history input").check();
  await ben.page.locator(".system", { hasText: "Ann Lee let new members see earlier messages" }).waitFor();
  await ann.page.fill(".modal .rename input", "Book club 📚");
  await ann.page.locator(".modal .rename").getByRole("button", { name: "Rename" }).click();
  await ben.page.locator(".system", { hasText: "Ann Lee renamed the chat to “Book club 📚”" }).waitFor();
  await ben.page.locator(".chat-title", { hasText: "Book club 📚" }).waitFor();
  await ann.page.locator(".modal .person", { hasText: "Ben Kim" }).getByRole("button", { name: "Make owner" }).click();
  await ben.page.locator(".system", { hasText: "Ben Kim is now the owner" }).waitFor();
  await ann.page.locator(".modal .person", { hasText: "Ben Kim" }).locator(".owner-mark").waitFor();
  await ann.page.locator(".modal .rename").waitFor({ state: "detached" });
  await ann.page.screenshot({ path: `${SHOTS}/09-members.png` });
  // Lines are never unread: the open chat stays read.
  assert.equal(await annGroup.locator(".unread").count(), 0, "no unread badge on the open chat");
  await ann.page.locator(".modal").getByRole("button", { name: "Close" }).click();
  // Ben, the owner now, sees the controls.
  await ben.page.locator(".chat-head").getByRole("button", { name: "Members" }).click();
  await ben.page.locator(".modal .person", { hasText: "Ann Lee" }).getByRole("button", { name: "Remove" }).waitFor();
  await ben.page.locator(".modal").getByRole("button", { name: "Close" }).click();

  step("the owner sets the notice, members pin, and the owner reserves pinning");
  ben.page.once("dialog", (d) => d.accept("Meet on Friday at 7"));
  await ben.page.locator(".chat-head").getByRole("button", { name: "Notice" }).click();
  await ann.page.locator(".notice-bar", { hasText: "Meet on Friday at 7" }).waitFor();
  await ann.page.locator(".system", { hasText: "Ben Kim set the notice" }).waitFor();
  await menu(ann.page, msgWith(ann.page, "vote please", ".own"), "Pin");
  await ben.page.locator(".pin-bar", { hasText: "vote please" }).waitFor();
  await ben.page.locator(".system", { hasText: "Ann Lee pinned a message" }).waitFor();
  await ann.page.screenshot({ path: `${SHOTS}/10-notice-and-pin.png` });
  await ben.page.locator(".chat-head").getByRole("button", { name: "Members" }).click();
  await ben.page.locator(".modal .pins-owner-only input").check();
  await ann.page.locator(".system", { hasText: "Ben Kim made pinning owner-only" }).waitFor();
  await ben.page.locator(".modal").getByRole("button", { name: "Close" }).click();
  const annMsg = msgWith(ann.page, "vote please", ".own");
  await annMsg.hover();
  await annMsg.locator(".msg-menu").click();
  await ann.page.getByRole("menuitem", { name: "Delete for me" }).waitFor();
  assert.equal(await ann.page.getByRole("menuitem", { name: "Unpin" }).count(), 0, "pinning is the owner's now");
  await ann.page.keyboard.press("Escape");
  await ben.page.locator(".pin-bar").getByRole("button", { name: "Pinned" }).click();
  await ben.page.locator(".modal .pin", { hasText: "vote please" }).getByRole("button", { name: "Unpin" }).click();
  await ann.page.locator(".pin-bar").waitFor({ state: "detached" });
  await ben.page.locator(".modal").getByRole("button", { name: "Close" }).click();

  step("a message is forwarded to another chat, marked as forwarded");
  await menu(ann.page, msgWith(ann.page, "vote please", ".own"), "Forward");
  await ann.page.locator(".modal.forward, .modal .forward").first().waitFor();
  await ann.page.locator(".modal label", { hasText: "Ben Kim" }).locator("input").check();
  await ann.page.locator(".modal").getByRole("button", { name: "Forward" }).click();
  await ann.page.locator(".modal .forward").waitFor({ state: "detached" });
  await ben.page.locator(".room-item", { hasText: "Ann Lee" }).click();
  const forwarded = msgWith(ben.page, "vote please");
  await forwarded.locator(".forwarded", { hasText: "Forwarded" }).waitFor();
  await ben.page.screenshot({ path: `${SHOTS}/11-forwarded.png` });

  step("a phone-width screen shows one pane at a time");
  const phone = await user("cat", { width: 390, height: 780 });
  await signUp(phone, "Cat Park");
  await phone.page.screenshot({ path: `${SHOTS}/04-phone-list.png` });
  await ann.page.screenshot({ path: `${SHOTS}/05-chat-with-photo.png` });

  console.log("web e2e: all passed");
  await browser.close();
} catch (e) {
  console.error(e);
  for (const [i, context] of browser.contexts().entries()) {
    for (const page of context.pages()) {
      await page.screenshot({ path: `${SHOTS}/failure-${i}.png` }).catch(() => {});
    }
  }
  await browser.close();
  process.exit(1);
}
