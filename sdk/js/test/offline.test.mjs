// What the client does without a usable server: typed refusals, a queued outbox, a clear
// stop when it has no WebSocket class at all.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChatClient } from "../dist/index.js";

const tokens = async () => ({ token: "t", expiresAtMs: Date.now() + 3_600_000 });

test("without a WebSocket class the client stops and says why", async () => {
  const c = new ChatClient({ url: "http://127.0.0.1:9", tokens, WebSocket: undefined });
  if (globalThis.WebSocket) return; // Node 22+ has one: nothing to show here.
  const closed = new Promise((r) => c.once("closed", r));
  c.connect();
  assert.equal((await closed).reason, "NO_WEBSOCKET");
  assert.equal(c.state, "closed");
});

test("offline: requests fail with OFFLINE, sends wait in the outbox", async () => {
  const c = new ChatClient({ url: "http://127.0.0.1:9", tokens, transport: "polling", reconnectDelayMs: 60_000 });
  await assert.rejects(c.listRooms(), (e) => e.reason === "OFFLINE" && e.retryable);
  const entry = c.send(7n, "later");
  assert.equal(entry.state, "queued");
  assert.deepEqual(c.unsent().map((e) => e.clientMsgId), [entry.clientMsgId]);
  c.close();
  assert.equal(c.state, "closed");
});
