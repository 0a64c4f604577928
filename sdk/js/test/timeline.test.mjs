// Replies, edits and deletes through the SDK: sent through the outbox in order with
// messages, delivered as `message` events of their kind with the target as it is now.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HistoryVisibility, MessageKind, SystemEventKind, mentionOf } from "../dist/index.js";
import { TestNode, account, client, online, inbox, groupRoom, next, until } from "./harness.mjs";

test("reply, edit and delete for everyone reach the other member live", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const a = await online(client(node, alice, { wire: "binary" }));
  const b = await online(client(node, bob));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob]);
  await b.openRoom(room.id);
  const got = inbox(b);

  const first = await a.send(room.id, "see you at 6").done;
  const reply = await b.send(room.id, "ok!", { replyTo: first.seq }).done;
  // Two clients at once: the room sequences them in whichever order they arrive.
  const edit = a.editMessage(room.id, first.seq, "see you at 7");
  const gone = b.deleteMessage(room.id, reply.seq);
  const seqs = [(await edit.done).seq, (await gone.done).seq];
  assert.deepEqual([...seqs].sort(), [3n, 4n]);
  await until(() => got.length === 4, "four entries");
  assert.deepEqual(got.map((m) => m.seq), [1n, 2n, 3n, 4n]);
  assert.equal(got[1].replyTo.preview, "see you at 6");
  const edited = got.find((m) => m.kind === MessageKind.EDIT);
  assert.equal(edited.seq, seqs[0]);
  assert.equal(edited.updated.body, "see you at 7");
  assert.ok(edited.updated.editedAtMs > 0n);
  const deleted = got.find((m) => m.kind === MessageKind.DELETE);
  assert.equal(deleted.seq, seqs[1]);
  assert.equal(deleted.updated.deleted, true);

  // Someone else's message: the outbox entry fails with the server's reason.
  const denied = b.editMessage(room.id, first.seq, "mine now");
  await assert.rejects(denied.done, (e) => e.reason === "NOT_YOUR_MESSAGE");
  assert.equal(denied.state, "failed");
  const page = await a.history(room.id);
  const bySeq = new Map(page.messages.map((m) => [m.seq, m]));
  assert.equal(bySeq.get(1n).body, "see you at 7");
  assert.equal(bySeq.get(2n).deleted, true);
});

test("reactions: counts live, mine in pages, who reacted on request", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const a = await online(client(node, alice));
  const b = await online(client(node, bob, { transport: "polling" }));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob]);
  await a.openRoom(room.id);
  const got = inbox(a);
  const sent = await a.send(room.id, "lunch?").done;
  await b.react(room.id, sent.seq, "👍").done;
  await b.react(room.id, sent.seq, "🍜").done;
  await b.react(room.id, sent.seq, "🍜", false).done;
  await until(() => got.length === 4, "the message and three reactions");
  assert.equal(got[1].kind, MessageKind.REACTION_ADDED);
  assert.equal(got[3].kind, MessageKind.REACTION_REMOVED);
  assert.deepEqual(got[3].updated.reactions.map((r) => [r.emoji, r.count]), [["👍", 1]]);
  const page = await b.history(room.id);
  const mine = page.messages.find((m) => m.seq === sent.seq).reactions;
  assert.deepEqual(mine.map((r) => [r.emoji, r.mine]), [["👍", true]]);
  const who = await a.call(
    { case: "listReactions", value: { roomId: room.id, seq: sent.seq, emoji: "👍" } },
    "reactionUsers",
  );
  assert.deepEqual(who.users.map((u) => u.id), [bob.user.id]);
  const twice = b.react(room.id, sent.seq, "👍");
  await assert.rejects(twice.done, (e) => e.reason === "ALREADY_REACTED");
});

test("mentions: sent with a message or an edit, counted per member until read", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const a = await online(client(node, alice));
  const b = await online(client(node, bob, { wire: "binary" }));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob]);
  const counted = next(b, "roomUpdate", (u) => u.roomId === room.id && u.mentionCount === 1);
  // The emoji before the name is two UTF-16 code units: mentionOf counts as the server does.
  const body = "🍜 @bob lunch?";
  const mention = mentionOf(body, "@bob", bob.user.id);
  assert.deepEqual(mention, { userId: bob.user.id, offset: 3, length: 4 });
  const sent = await a.send(room.id, body, { mentions: [mention] }).done;
  const update = await counted;
  assert.equal(update.unread, 1);
  const list = await b.listRooms();
  const summary = list.rooms.find((r) => r.room.id === room.id);
  assert.equal(summary.mentionCount, 1);
  assert.equal(summary.lastMessage.mentions[0].userId, bob.user.id);
  // An edit to @all keeps Bob counted once; one that names nobody takes it back.
  const everyone = mentionOf("@all lunch?", "@all", "all");
  await a.editMessage(room.id, sent.seq, "@all lunch?", { mentions: [everyone] }).done;
  const page = await b.history(room.id);
  assert.equal(page.messages.find((m) => m.seq === sent.seq).mentions[0].all, true);
  assert.equal((await b.listRooms()).rooms[0].mentionCount, 1);
  await a.editMessage(room.id, sent.seq, "lunch?").done;
  assert.equal((await b.listRooms()).rooms[0].mentionCount, 0);
  // Bad ranges fail the entry with the server's reason.
  const bad = a.send(room.id, "@bob", { mentions: [{ userId: bob.user.id, offset: 1, length: 9 }] });
  await assert.rejects(bad.done, (e) => e.reason === "INVALID_MENTION");
  // Reading clears the count.
  const again = await a.send(room.id, "@bob?", { mentions: [mentionOf("@bob?", "@bob", bob.user.id)] }).done;
  assert.equal((await b.listRooms()).rooms[0].mentionCount, 1);
  await b.markRead(room.id, again.seq);
  assert.equal((await b.listRooms()).rooms[0].mentionCount, 0);
});

test("the owner renames, removes and hands over; the timeline says so", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob, cat] = [await account(node, "alice"), await account(node, "bob"), await account(node, "cat")];
  const a = await online(client(node, alice));
  const b = await online(client(node, bob, { wire: "binary" }));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob, cat]);
  assert.equal(room.ownerId, alice.user.id);
  await b.openRoom(room.id);
  const got = inbox(b);
  await assert.rejects(b.renameRoom(room.id, "mine"), (e) => e.reason === "NOT_ROOM_OWNER");
  const renamed = await a.renameRoom(room.id, "  lunch club ");
  assert.equal(renamed.name, "lunch club");
  await assert.rejects(a.renameRoom(room.id, " "), (e) => e.reason === "INVALID_ROOM_NAME");
  assert.deepEqual((await a.removeMember(room.id, cat.user.id)).memberIds, [alice.user.id, bob.user.id]);
  assert.equal((await a.transferOwnership(room.id, bob.user.id)).ownerId, bob.user.id);
  await until(() => got.length === 3, "three system lines");
  assert.ok(got.every((m) => m.kind === MessageKind.SYSTEM && m.unread === 0));
  assert.deepEqual(
    got.map((m) => [m.system.kind, m.senderId, m.system.userIds, m.body]),
    [
      [SystemEventKind.RENAMED, alice.user.id, [], "lunch club"],
      [SystemEventKind.REMOVED, alice.user.id, [cat.user.id]],
      [SystemEventKind.OWNER_CHANGED, alice.user.id, [bob.user.id]],
    ].map(([k, s, u, body = ""]) => [k, s, u, body]),
  );
  // The chat list shows the room as it is now.
  const summary = (await a.listRooms()).rooms.find((r) => r.room.id === room.id);
  assert.equal(summary.room.name, "lunch club");
  assert.equal(summary.room.ownerId, bob.user.id);
  assert.equal(summary.unread, 0, "system lines are never unread");
});

test("history visibility: newcomers see from their joining until the owner shares it", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, cat] = [await account(node, "alice"), await account(node, "cat")];
  const a = await online(client(node, alice));
  const c = await online(client(node, cat, { transport: "polling" }));
  t.after(() => (a.close(), c.close()));
  const room = await groupRoom(a, []);
  await a.send(room.id, "before cat").done;
  await a.call({ case: "inviteMembers", value: { roomId: room.id, userIds: [cat.user.id] } }, "room");
  const bodies = async () => (await c.history(room.id)).messages.map((m) => m.body);
  assert.deepEqual(await bodies(), [""], "the line of her joining only");
  await assert.rejects(c.setHistoryVisibility(room.id, true), (e) => e.reason === "NOT_ROOM_OWNER");
  const shared = await a.setHistoryVisibility(room.id, true);
  assert.equal(shared.historyVisibility, HistoryVisibility.SHARED);
  assert.deepEqual(await bodies(), ["shared", "", "before cat"]);
});

test("the notice and pins: set, listed, live in the timeline, reserved by the owner", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const a = await online(client(node, alice));
  const b = await online(client(node, bob, { wire: "binary" }));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob]);
  await b.openRoom(room.id);
  const got = inbox(b);
  const said = await a.send(room.id, "Friday 7 pm").done;
  await assert.rejects(b.setNotice(room.id, "mine"), (e) => e.reason === "NOT_ROOM_OWNER");
  const set = await a.setNotice(room.id, " 금요일 7시 ");
  assert.equal(set.notice.text, "금요일 7시");
  assert.equal(set.notice.setBy, alice.user.id);
  await b.pinMessage(room.id, said.seq);
  await assert.rejects(b.pinMessage(room.id, 99n), (e) => e.reason === "MESSAGE_NOT_FOUND");
  assert.deepEqual((await a.listPins(room.id)).map((m) => m.body), ["Friday 7 pm"]);
  await until(() => got.length === 3, "the message, the notice and the pin");
  const [, notice, pin] = got;
  assert.equal(notice.system.kind, SystemEventKind.NOTICE_CHANGED);
  assert.equal(pin.system.kind, SystemEventKind.PINNED);
  assert.equal(pin.targetSeq, said.seq);
  assert.equal(pin.updated.body, "Friday 7 pm");
  const reserved = await a.setRoomPermissions(room.id, { inviteOwnerOnly: false, pinsOwnerOnly: true });
  assert.ok(reserved.pinsOwnerOnly && !reserved.inviteOwnerOnly);
  await assert.rejects(b.unpinMessage(room.id, said.seq), (e) => e.reason === "NOT_ROOM_OWNER");
  await a.unpinMessage(room.id, said.seq);
  assert.deepEqual(await b.listPins(room.id), []);
  const opened = await b.openRoom(room.id);
  assert.equal(opened.room.notice.text, "금요일 7시");
  assert.deepEqual(opened.pinned, []);
});

test("forward: a message goes to another room through the outbox, marked forwarded", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob, carol] = [await account(node, "alice"), await account(node, "bob"), await account(node, "carol")];
  const a = await online(client(node, alice));
  const c = await online(client(node, carol, { wire: "binary" }));
  t.after(() => (a.close(), c.close()));
  const from = await groupRoom(a, [bob]);
  const to = await groupRoom(a, [carol]);
  await c.openRoom(to.id);
  const got = inbox(c);
  const said = await a.send(from.id, "see you at 7").done;
  const copy = await a.forwardMessage(from.id, said.seq, to.id).done;
  assert.equal(copy.roomId, to.id);
  await until(() => got.length === 1, "the forwarded message");
  assert.equal(got[0].body, "see you at 7");
  assert.ok(got[0].forwarded);
  const failed = a.forwardMessage(from.id, 99n, to.id);
  await assert.rejects(failed.done, (e) => e.reason === "MESSAGE_NOT_FOUND");
  assert.equal(failed.state, "failed");
});

test("search finds messages by their words, in one room or all, page by page", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const a = await online(client(node, alice));
  const b = await online(client(node, bob, { wire: "binary" }));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob]);
  const said = await a.send(room.id, "친구에게 주소 보냈어").done;
  const asked = await b.send(room.id, "친구한테 물어볼게").done;
  // The index follows the log a moment behind the acks.
  let found = [];
  await until(async () => {
    found = (await b.searchMessages("친구", { roomId: room.id })).hits;
    return found.length === 2;
  }, "both messages found");
  assert.deepEqual(found.map((h) => h.message.seq), [asked.seq, said.seq]);
  assert.equal(found[1].snippet, "친구에게 주소 보냈어");
  assert.deepEqual(found[1].highlights.map((r) => [r.offset, r.length]), [[0, 2]]);
  const first = await a.searchMessages("친구", { limit: 1, senderId: bob.user.id });
  assert.deepEqual(first.hits.map((h) => h.message.seq), [asked.seq]);
  assert.equal(first.nextCursor, "");
  const page = await a.searchMessages("친구", { limit: 1 });
  assert.notEqual(page.nextCursor, "");
  const rest = await a.searchMessages("친구", { limit: 1, cursor: page.nextCursor });
  assert.deepEqual(rest.hits.map((h) => h.message.seq), [said.seq]);
  await assert.rejects(a.searchMessages(" ! "), (e) => e.reason === "EMPTY_QUERY");
});
