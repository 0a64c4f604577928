// What a client tells its listeners: connection states and every server event, typed.
import type {
  Authenticated,
  FriendPresence,
  FriendRequestAccepted,
  FriendRequestReceived,
  MembersChanged,
  PresenceChanged,
  ReadReceipt,
  RoomAdded,
  RoomOpened,
  MessageHidden,
  RoomSettings,
  RoomUpdate,
  TypingStarted,
} from "./gen/chat/v1/frames_pb.js";
import type { Message } from "./gen/chat/v1/models_pb.js";
import type { ChatError } from "./errors.js";
import type { OutboxEntry } from "./outbox.js";

/** Where the connection is: connecting, online, offline (waiting to retry), closed (for good). */
export type ConnectionState = "connecting" | "online" | "offline" | "closed";

/** Every event a client emits, with its arguments. */
export interface ClientEvents extends Record<string, unknown[]> {
  /** The connection state changed; `detail` says why (transport kind, close reason). */
  state: [state: ConnectionState, detail: string];
  /** (Re)connected and authenticated, the open rooms re-opened. */
  ready: [authenticated: Authenticated];
  /** A room message, once per seq and in seq order within each room. */
  message: [message: Message];
  /** An open room was (re-)opened on the connection. */
  roomOpened: [opened: RoomOpened];
  readReceipt: [receipt: ReadReceipt];
  roomUpdate: [update: RoomUpdate];
  roomAdded: [added: RoomAdded];
  membersChanged: [change: MembersChanged];
  presenceChanged: [change: PresenceChanged];
  typingStarted: [typing: TypingStarted];
  friendRequestReceived: [request: FriendRequestReceived];
  friendRequestAccepted: [accepted: FriendRequestAccepted];
  friendPresence: [presence: FriendPresence];
  /** The user's own settings for a room (muted) changed, on this device or another. */
  roomSettings: [settings: RoomSettings];
  /** The user hid a message from their own view ("delete for me"), on this device or another. */
  messageHidden: [hidden: MessageHidden];
  /** An outbox entry changed state. */
  outbox: [entry: OutboxEntry];
  /** The log-in ended (revoked, or the refresh token is gone): log in again. */
  signedOut: [reason: ChatError];
  /** The client stopped for good because of `error` (a 41xx close other than sign-out). */
  closed: [error: ChatError];
}
