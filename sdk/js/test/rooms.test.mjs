// The room tracker alone: order, duplicates, gaps filled from history, stale fills dropped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RoomTracker } from "../dist/rooms.js";

const msg = (seq, roomId = 1n) => ({ roomId, seq: BigInt(seq), body: `m${seq}` });
const tick = () => new Promise((r) => setTimeout(r, 0));

function tracker(history = []) {
  const delivered = [];
  const reads = [];
  const t = new RoomTracker(
    async (roomId, after, before) => {
      reads.push([after, before]);
      return history.filter((m) => m.seq > after && m.seq < before);
    },
    (m) => delivered.push(Number(m.seq)),
    () => {},
  );
  return { t, delivered, reads };
}

test("delivers in order, drops duplicates, fills a gap before going on", async () => {
  const history = [2, 3, 4].map((s) => msg(s));
  const { t, delivered, reads } = tracker(history);
  t.open(1n);
  t.opened(1n, 0n);
  t.receive(msg(1));
  t.receive(msg(1));
  t.receive(msg(5));
  t.receive(msg(6));
  await tick();
  t.receive(msg(4));
  t.receive(msg(7));
  assert.deepEqual(delivered, [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(reads, [[1n, 5n]]);
  assert.equal(t.lastSeq(1n), 7n);
});

test("a re-open recovers from where delivery stopped; a first open starts at the room's end", () => {
  const { t, delivered } = tracker();
  assert.equal(t.open(1n), 0n);
  t.opened(1n, 10n);
  t.receive(msg(11));
  assert.deepEqual(t.openRooms(), [[1n, 11n]]);
  t.disconnected();
  assert.equal(t.open(1n), 11n);
  t.opened(1n, 20n);
  t.receive(msg(12));
  assert.deepEqual(delivered, [11, 12]);
  // Rooms it does not follow pass through unordered.
  t.receive(msg(3, 9n));
  assert.deepEqual(delivered, [11, 12, 3]);
});

test("what history does not have is skipped, not waited for", async () => {
  const { t, delivered } = tracker([msg(3)]);
  t.open(1n);
  t.opened(1n, 0n);
  t.receive(msg(5));
  await tick();
  assert.deepEqual(delivered, [3, 5]);
});

test("a fill of a dropped connection is ignored", async () => {
  let release;
  const delivered = [];
  const t = new RoomTracker(
    () => new Promise((r) => (release = () => r([msg(2)]))),
    (m) => delivered.push(Number(m.seq)),
    () => {},
  );
  t.open(1n);
  t.opened(1n, 1n);
  t.receive(msg(3));
  t.disconnected();
  release();
  await tick();
  assert.deepEqual(delivered, []);
  t.receive(msg(2));
  assert.deepEqual(delivered, [2]);
});
