// Each open room's messages delivered once and in seq order. A room's seq is dense (1, 2, 3,
// ...), so a message whose seq is not the next one shows a gap: after a truncated recovery,
// or a lost event. The gap is filled from history before anything after it is delivered.
import type { Message } from "./gen/chat/v1/models_pb.js";

/** Reads the messages of a room with after < seq < before, in any order. */
export type GapReader = (roomId: bigint, after: bigint, before: bigint) => Promise<Message[]>;

interface RoomState {
  /** Whether the app wants it open (re-opened after every reconnection). */
  open: boolean;
  /** The newest seq delivered; undefined until the room was first opened. */
  delivered: bigint | undefined;
  /** Messages past a gap, by seq, waiting for it to be filled. */
  waiting: Map<bigint, Message>;
  filling: boolean;
}

export class RoomTracker {
  private readonly rooms = new Map<bigint, RoomState>();
  /** Bumped at every disconnection: fills of an older connection are dropped. */
  private generation = 0;

  constructor(
    private readonly readGap: GapReader,
    private readonly deliver: (m: Message) => void,
    private readonly fillFailed: (roomId: bigint, e: unknown) => void,
  ) {}

  private state(roomId: bigint): RoomState {
    let s = this.rooms.get(roomId);
    if (!s) {
      s = { open: false, delivered: undefined, waiting: new Map(), filling: false };
      this.rooms.set(roomId, s);
    }
    return s;
  }

  /** Marks the room open; returns the seq to recover from (0: none known). */
  open(roomId: bigint): bigint {
    const s = this.state(roomId);
    s.open = true;
    return s.delivered ?? 0n;
  }

  close(roomId: bigint): void {
    this.rooms.delete(roomId);
  }

  /** The rooms to re-open after a reconnection, with the seq to recover from. */
  openRooms(): Array<[bigint, bigint]> {
    return [...this.rooms].filter(([, s]) => s.open).map(([id, s]) => [id, s.delivered ?? 0n]);
  }

  /** The newest seq delivered in a room (0 when none). */
  lastSeq(roomId: bigint): bigint {
    return this.rooms.get(roomId)?.delivered ?? 0n;
  }

  /**
   * The room was opened on the connection; its newest seq then was `lastSeq`. A first open
   * starts delivery after it (older messages are history); a re-open recovers from where
   * delivery stopped, so nothing changes.
   */
  opened(roomId: bigint, lastSeq: bigint): void {
    const s = this.state(roomId);
    if (s.delivered === undefined) s.delivered = lastSeq;
  }

  /** The connection dropped: what waited past a gap comes again through recovery. */
  disconnected(): void {
    this.generation += 1;
    for (const s of this.rooms.values()) {
      s.waiting.clear();
      s.filling = false;
    }
  }

  /** A message event. */
  receive(m: Message): void {
    const s = this.rooms.get(m.roomId);
    if (!s || s.delivered === undefined) {
      // Not a room this client tracks: nothing to order it against.
      this.deliver(m);
      return;
    }
    if (m.seq <= s.delivered) return;
    if (m.seq === s.delivered + 1n && !s.filling) {
      s.delivered = m.seq;
      this.deliver(m);
      this.drain(s);
      return;
    }
    s.waiting.set(m.seq, m);
    if (!s.filling) void this.fill(m.roomId, s);
  }

  private drain(s: RoomState): void {
    for (;;) {
      const next = s.waiting.get((s.delivered ?? 0n) + 1n);
      if (!next) break;
      s.waiting.delete(next.seq);
      s.delivered = next.seq;
      this.deliver(next);
    }
    if (s.waiting.size > 0 && !s.filling) {
      const roomId = s.waiting.values().next().value?.roomId;
      if (roomId !== undefined) void this.fill(roomId, s);
    }
  }

  private async fill(roomId: bigint, s: RoomState): Promise<void> {
    const generation = this.generation;
    s.filling = true;
    try {
      const after = s.delivered ?? 0n;
      const before = [...s.waiting.keys()].reduce((a, b) => (a < b ? a : b));
      const found = await this.readGap(roomId, after, before);
      if (generation !== this.generation) return;
      for (const m of found) {
        if (m.seq > after && m.seq < before) s.waiting.set(m.seq, m);
      }
      // What history does not have (not visible to this user) will not come: go on after it
      // rather than wait forever.
      const lowest = [...s.waiting.keys()].reduce((a, b) => (a < b ? a : b));
      if (lowest > after + 1n) s.delivered = lowest - 1n;
    } catch (e) {
      if (generation === this.generation) this.fillFailed(roomId, e);
      return;
    } finally {
      if (generation === this.generation) s.filling = false;
    }
    this.drain(s);
  }
}
