// What a connection lives through: token expiry, a server restart, a paused server, missed
// messages beyond the recovery limit, revocation, refusals that must not be retried, and a
// network that blocks WebSockets for a while.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { TestNode, account, client, next, online, inbox, groupRoom, until } from "./harness.mjs";

const seqs = (ms) => ms.map((m) => Number(m.seq));
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("re-authenticates on the open connection before the token expires", async (t) => {
  const node = await TestNode.start({ CHAT__AUTH__ACCESS_TTL_SECS: "3" });
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const a = await online(client(node, alice, { reauthMarginMs: 1500 }));
  const b = await online(client(node, bob));
  t.after(() => (a.close(), b.close()));
  const states = [];
  a.on("state", (s) => states.push(s));
  const room = await groupRoom(b, [alice]);
  await a.openRoom(room.id);
  const got = inbox(a);
  // Three token lifetimes: the connection stays, re-authenticated each time.
  const refreshed = [];
  const stop = Date.now() + 9_000;
  let n = 0;
  while (Date.now() < stop) {
    n += 1;
    await b.send(room.id, `m${n}`).done;
    refreshed.push(alice.session.tokens.accessToken);
    await new Promise((r) => setTimeout(r, 300));
  }
  await until(() => got.length === n, "every message");
  assert.deepEqual(seqs(got), range(1, n));
  assert.deepEqual(states, [], "the connection never dropped");
  assert.ok(new Set(refreshed).size >= 3, "the token was refreshed");
});

test("a server restart: reconnects, recovers by seq, sends what was queued", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const opts = { reconnectDelayMs: 100, reconnectMaxDelayMs: 500 };
  const a = await online(client(node, alice, opts));
  const b = await online(client(node, bob, { ...opts, wire: "binary" }));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob]);
  await a.openRoom(room.id);
  await b.openRoom(room.id);
  const got = inbox(b);
  for (let i = 1; i <= 3; i++) await a.send(room.id, `before ${i}`).done;
  await until(() => got.length === 3, "messages before the restart");

  await node.stop();
  await until(() => a.state !== "online" && b.state !== "online", "both offline");
  // Sent while the server is down: queued, then sent once it is back.
  const queued = [1, 2, 3].map((i) => a.send(room.id, `during ${i}`));
  assert.ok(queued.every((e) => e.state === "queued"));
  await node.launch(node.addr);
  const acks = await Promise.all(queued.map((e) => e.done));
  assert.deepEqual(acks.map((x) => Number(x.seq)), [4, 5, 6]);
  await until(() => got.length === 6, "every message at bob");
  assert.deepEqual(seqs(got), range(1, 6));
  assert.deepEqual(got.slice(3).map((m) => m.body), ["during 1", "during 2", "during 3"]);
});

test("a paused server is noticed by the heartbeat, and the client comes back", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const opts = {
    heartbeatIntervalMs: 400,
    heartbeatTimeoutMs: 800,
    connectTimeoutMs: 1000,
    reconnectDelayMs: 100,
    reconnectMaxDelayMs: 400,
  };
  const a = await online(client(node, alice, opts));
  const b = await online(client(node, bob, opts));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob]);
  await b.openRoom(room.id);
  const got = inbox(b);
  await a.send(room.id, "before").done;
  await until(() => got.length === 1, "the first message");

  node.pause();
  // Silent, not closed: only the client's own ping can tell.
  await next(b, "state", (s) => s !== "online", 10_000);
  const during = a.send(room.id, "while paused");
  node.resume();
  await next(b, "ready", () => true, 20_000);
  await during.done;
  await until(() => got.length === 2, "the message sent around the pause");
  assert.deepEqual(seqs(got), [1, 2]);
});

test("a recovery beyond the server's limit is filled from history, once and in order", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  const a = await online(client(node, alice));
  const b = await online(client(node, bob));
  t.after(() => (a.close(), b.close()));
  const room = await groupRoom(a, [bob]);
  await b.openRoom(room.id);
  const got = inbox(b);
  await a.send(room.id, "first").done;
  await until(() => got.length === 1, "the first message");

  b.close();
  // More than the 500 a re-open recovers.
  const sends = range(2, 620).map((i) => a.send(room.id, `m${i}`));
  await Promise.all(sends.map((e) => e.done));
  const reopened = next(b, "roomOpened");
  await online(b);
  assert.equal((await reopened).recoveryTruncated, true);
  await until(() => got.length === 620, "all 620 messages");
  assert.deepEqual(seqs(got), range(1, 620));
});

test("a revoked log-in signs out; a refused connection is not retried", async (t) => {
  const node = await TestNode.start({ CHAT__LIMITS__CONNECTIONS_PER_USER: "1" });
  t.after(() => node.destroy());
  const alice = await account(node, "alice");
  const a = await online(client(node, alice));
  t.after(() => a.close());

  // A second connection of the same user is over the limit: 4103, closed for good.
  const second = client(node, alice, { reconnectDelayMs: 50 });
  const closed = next(second, "closed");
  second.connect();
  assert.equal((await closed).reason, "TOO_MANY_CONNECTIONS");
  assert.equal(second.state, "closed");

  const out = next(a, "signedOut");
  await node.http().logoutEverywhere(alice.session.tokens.accessToken);
  assert.equal((await out).reason, "AUTH_REVOKED");
  assert.equal(a.state, "closed");
});

test("falls back to long polling where WebSockets fail, and returns when they work", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const [alice, bob] = [await account(node, "alice"), await account(node, "bob")];
  // A network that refuses WebSockets until `blocked` is lifted.
  let blocked = true;
  class FlakyWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(blocked ? url.replace(/\/v1\/ws$/, "/v1/no-such-socket") : url, protocols);
    }
  }
  const a = await online(
    client(node, alice, { WebSocket: FlakyWebSocket, reconnectDelayMs: 50, webSocketRetryMs: 300 }),
  );
  t.after(() => a.close());
  assert.equal(a.transportKind, "polling");
  const b = await online(client(node, bob));
  t.after(() => b.close());
  const room = await groupRoom(b, [alice]);
  await a.openRoom(room.id);
  const got = inbox(a);
  await b.send(room.id, "over polling").done;
  await until(() => got.length === 1, "a message over long polling");

  blocked = false;
  await until(() => a.transportKind === "websocket" && a.state === "online", "back on WebSocket");
  await b.send(room.id, "over the socket").done;
  await until(() => got.length === 2, "a message over the socket");
  assert.deepEqual(seqs(got), [1, 2]);
});
