// The commands that are one request and one reply about a room's settings, its owner's
// powers, pins, and search: kept apart from the connection machinery in client.ts.
import type { SearchResults } from "./gen/chat/v1/frames_pb.js";
import { HistoryVisibility, type Message, type Room } from "./gen/chat/v1/models_pb.js";
import type { Command, Payload, ReplyOf } from "./codec.js";
import { Emitter } from "./emitter.js";
import type { ClientEvents } from "./events.js";

/** What to look for with {@link RoomCalls.searchMessages}, besides the words. */
export interface SearchOptions {
  /** One room; every room of the user when left out. */
  roomId?: bigint;
  /** Only messages from this user. */
  senderId?: bigint;
  /** Only messages sent at or after this time (ms since the epoch). */
  fromMs?: number;
  /** Only messages sent before this time. */
  untilMs?: number;
  hasAttachment?: boolean;
  hasPhoto?: boolean;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** 1-50; 20 when left out. */
  limit?: number;
}

export abstract class RoomCalls extends Emitter<ClientEvents> {
  /** Sends a command and expects a reply of one kind. */
  abstract call<K extends NonNullable<Payload["case"]>>(command: Command, reply: K): Promise<ReplyOf<K>>;

  /** Mutes (or unmutes) a room for this user on all their devices; it still counts unread. */
  async setRoomMuted(roomId: bigint, muted: boolean): Promise<void> {
    await this.call({ case: "setRoomMuted", value: { roomId, muted } }, "ok");
  }

  /** The owner renames a group; resolves with the room once the timeline records it. */
  renameRoom(roomId: bigint, name: string): Promise<Room> {
    return this.call({ case: "renameRoom", value: { roomId, name } }, "room");
  }

  /** The owner removes a member from a group. */
  removeMember(roomId: bigint, userId: bigint): Promise<Room> {
    return this.call({ case: "removeMember", value: { roomId, userId } }, "room");
  }

  /** The owner sets whether members see what was said before they joined (`shared`). */
  setHistoryVisibility(roomId: bigint, shared: boolean): Promise<Room> {
    const visibility = shared ? HistoryVisibility.SHARED : HistoryVisibility.UNSPECIFIED;
    return this.call({ case: "setHistoryVisibility", value: { roomId, visibility } }, "room");
  }

  /** The owner hands a group over to another member. */
  transferOwnership(roomId: bigint, userId: bigint): Promise<Room> {
    return this.call({ case: "transferOwnership", value: { roomId, userId } }, "room");
  }

  /** The owner reserves inviting and pinning to themself, or opens them to every member. */
  setRoomPermissions(roomId: bigint, p: { inviteOwnerOnly: boolean; pinsOwnerOnly: boolean }): Promise<Room> {
    return this.call({ case: "setRoomPermissions", value: { roomId, ...p } }, "room");
  }

  /** Sets the room's notice (the owner's, in groups); an empty text takes it down. */
  setNotice(roomId: bigint, text: string): Promise<Room> {
    return this.call({ case: "setNotice", value: { roomId, text } }, "room");
  }

  /** Pins a message; a PINNED line in the timeline says so. */
  async pinMessage(roomId: bigint, seq: bigint): Promise<void> {
    await this.call({ case: "pinMessage", value: { roomId, seq } }, "ok");
  }

  async unpinMessage(roomId: bigint, seq: bigint): Promise<void> {
    await this.call({ case: "unpinMessage", value: { roomId, seq } }, "ok");
  }

  /** The room's pinned messages this user can see, each as it is now, newest pin first. */
  async listPins(roomId: bigint): Promise<Message[]> {
    return (await this.call({ case: "listPins", value: { roomId } }, "pinnedMessages")).messages;
  }

  /**
   * Finds messages this user may read, newest first: every word must match, a "quoted
   * phrase" in order (Korean words also without their particles). Page with `nextCursor`.
   */
  searchMessages(query: string, o: SearchOptions = {}): Promise<SearchResults> {
    const value = {
      query,
      roomId: o.roomId ?? 0n,
      senderId: o.senderId ?? 0n,
      fromMs: BigInt(o.fromMs ?? 0),
      untilMs: BigInt(o.untilMs ?? 0),
      hasAttachment: o.hasAttachment ?? false,
      hasPhoto: o.hasPhoto ?? false,
      cursor: o.cursor ?? "",
      limit: o.limit ?? 0,
    };
    return this.call({ case: "searchMessages", value }, "searchResults");
  }
}
