// Live messages over both WebSocket wires and long polling, typed events, the outbox.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TestNode, account, client, next, online, inbox, groupRoom, until } from "./harness.mjs";

for (const [label, options] of [
  ["JSON WebSocket", { wire: "json" }],
  ["binary WebSocket", { wire: "binary" }],
  ["long polling", { transport: "polling" }],
]) {
  test(`two people chat over ${label}`, async (t) => {
    const node = await TestNode.start();
    t.after(() => node.destroy());
    const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
    const a = await online(client(node, alice, options));
    const b = await online(client(node, bob, options));
    t.after(() => (a.close(), b.close()));
    assert.equal(a.transportKind, options.transport === "polling" ? "polling" : "websocket");

    const added = next(b, "roomAdded");
    const room = await groupRoom(a, [bob]);
    assert.equal((await added).room.room.id, room.id);
    await a.openRoom(room.id);
    const opened = await b.openRoom(room.id);
    assert.equal(opened.members.length, 2);
    const got = inbox(b);

    // Typed events: typing, the message, the read receipt that follows.
    const typing = next(b, "typingStarted");
    await a.typing(room.id);
    assert.equal((await typing).userId, alice.user.id);
    const entry = a.send(room.id, "안녕, Bob");
    const ack = await entry.done;
    assert.equal(ack.seq, 1n);
    assert.equal(entry.state, "sent");
    await until(() => got.length === 1, "bob's message");
    assert.equal(got[0].body, "안녕, Bob");
    assert.equal(got[0].senderId, alice.user.id);
    assert.equal(got[0].unread, 1);
    const receipt = next(a, "readReceipt");
    await b.markRead(room.id, 1n);
    assert.deepEqual([(await receipt).userId, (await receipt).toSeq], [bob.user.id, 1n]);

    // Friends, and presence as friends see it.
    const asked = next(b, "friendRequestReceived");
    await a.call({ case: "sendFriendRequest", value: { userId: bob.user.id } }, "ok");
    assert.equal((await asked).from.id, alice.user.id);
    const accepted = next(a, "friendRequestAccepted");
    await b.call({ case: "acceptFriendRequest", value: { userId: alice.user.id } }, "ok");
    assert.equal((await accepted).user.id, bob.user.id);
    const gone = next(a, "friendPresence", (p) => !p.online);
    b.close();
    assert.equal((await gone).userId, bob.user.id);

    // History pages by the key each page returns.
    for (let i = 2; i <= 5; i++) await a.send(room.id, `m${i}`).done;
    const first = await a.history(room.id, 0n, 3);
    assert.deepEqual(first.messages.map((m) => m.seq), [5n, 4n, 3n]);
    const second = await a.history(room.id, first.nextBeforeSeq, 3);
    assert.deepEqual(second.messages.map((m) => m.seq), [2n, 1n]);
    assert.equal(second.nextBeforeSeq, 0n);
  });
}

test("the outbox keeps one client_msg_id per message and shows failures", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const a = await online(client(node, alice));
  t.after(() => a.close());
  const room = await groupRoom(a, [bob]);
  const first = a.send(room.id, "once", { clientMsgId: "fixed-id" });
  const ack = await first.done;
  // The same id again (an app retrying by hand) is the same message: the first ack.
  const again = await a.send(room.id, "once", { clientMsgId: "fixed-id" }).done;
  assert.deepEqual([again.seq, again.messageId], [ack.seq, ack.messageId]);
  assert.equal((await a.history(room.id)).messages.length, 1);

  // A send the server refuses for good fails, visibly, and can be discarded.
  const states = [];
  a.on("outbox", (e) => e.clientMsgId === "too-long" && states.push(e.state));
  const bad = a.send(room.id, "x".repeat(5000), { clientMsgId: "too-long" });
  await assert.rejects(bad.done, (e) => e.reason === "MESSAGE_TOO_LONG");
  assert.equal(bad.state, "failed");
  assert.deepEqual(states, ["queued", "sending", "failed"]);
  assert.deepEqual(a.unsent().map((e) => e.clientMsgId), ["too-long"]);
  a.discardSend("too-long");
  assert.deepEqual(a.unsent(), []);

  // Requests fail with typed errors.
  await assert.rejects(
    a.call({ case: "getUser", value: { username: "nobody_here" } }, "user"),
    (e) => e.reason === "USER_NOT_FOUND" && e.code === 5 && !e.retryable,
  );
});

test("a mute reaches the user's other devices and shows in the room list", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const phone = await online(client(node, alice));
  const laptop = await online(client(node, alice, { transport: "polling" }));
  t.after(() => (phone.close(), laptop.close()));
  const room = await groupRoom(phone, [bob]);
  const heard = next(laptop, "roomSettings", (s) => s.roomId === room.id);
  await phone.setRoomMuted(room.id, true);
  assert.equal((await heard).muted, true);
  const listed = (await laptop.listRooms()).rooms.find((r) => r.room.id === room.id);
  assert.equal(listed.muted, true);
  await phone.setRoomMuted(room.id, false);
  assert.equal((await phone.listRooms()).rooms[0].muted, false);
  await assert.rejects(phone.setRoomMuted(room.id + 1n, true), (e) => e.reason === "ROOM_NOT_FOUND");
});
