// A chat in the terminal: run it in two terminals, as two users, in the same room.
//
//   node examples/cli-chat.mjs http://127.0.0.1:8080 alice 'alice password' [--signup] [--room ID] [--with bob]
//
// Without --room it opens (or creates) the direct room with the user given by --with. Lines
// you type are sent (through the outbox: they survive a dropped connection); messages
// arrive live, once and in order, and are recovered after a reconnect.
import { createInterface } from "node:readline";
import { WebSocket } from "ws";
import { ChatClient, HttpApi, Session } from "@chatcluster/sdk";

const [url, username, password, ...rest] = process.argv.slice(2);
if (!url || !username || !password) {
  console.error("usage: cli-chat.mjs URL USERNAME PASSWORD [--signup] [--room ID] [--with USERNAME]");
  process.exit(2);
}
const flag = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};

const http = new HttpApi(url);
const tokens = rest.includes("--signup")
  ? await http.signup(username, username, password)
  : await http.login(username, password);
const session = new Session(http, tokens);
const client = new ChatClient({ url, tokens: session.tokenSource, WebSocket });
const names = new Map([[tokens.user.id, tokens.user.displayName]]);

client.on("state", (state, detail) => console.error(`[${state}${detail ? `: ${detail}` : ""}]`));
client.on("signedOut", () => {
  console.error("signed out");
  process.exit(1);
});
client.on("outbox", (e) => e.state === "failed" && console.error(`not sent (${e.error?.reason}): ${e.body}`));
client.on("message", (m) => {
  if (m.senderId === tokens.user.id) return;
  console.log(`${names.get(m.senderId) ?? m.senderId}: ${m.body}`);
});
client.on("typingStarted", (t) => console.error(`[${names.get(t.userId) ?? t.userId} is typing]`));

await new Promise((resolve) => {
  client.once("ready", resolve);
  client.connect();
});

let roomId;
if (flag("--room")) {
  roomId = BigInt(flag("--room"));
} else {
  const peer = await client.call({ case: "getUser", value: { username: flag("--with") ?? "" } }, "user");
  names.set(peer.id, peer.displayName);
  roomId = (await client.call({ case: "createDirectRoom", value: { peerId: peer.id } }, "room")).id;
}
const opened = await client.openRoom(roomId);
for (const m of opened.members) names.set(m.user.id, m.user.displayName);
const page = await client.history(roomId, 0n, 10);
for (const m of page.messages.reverse()) console.log(`${names.get(m.senderId) ?? m.senderId}: ${m.body}`);
console.error(`[room ${roomId}: type to send, Ctrl-D to quit]`);

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => line.trim() && client.send(roomId, line));
lines.on("close", async () => {
  await Promise.allSettled(client.unsent().map((e) => e.done));
  client.close();
  process.exit(0);
});
