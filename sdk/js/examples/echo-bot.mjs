// A bot that answers every message in the rooms it is in, in the binary (protobuf) wire.
//
//   node examples/echo-bot.mjs http://127.0.0.1:8080 echobot 'bot password' [--signup]
import { WebSocket } from "ws";
import { ChatClient, HttpApi, Session } from "@chatcluster/sdk";

const [url, username, password, ...rest] = process.argv.slice(2);
const http = new HttpApi(url);
const tokens = rest.includes("--signup")
  ? await http.signup(username, "Echo bot", password)
  : await http.login(username, password);
const session = new Session(http, tokens);
const client = new ChatClient({ url, tokens: session.tokenSource, WebSocket, wire: "binary" });

const answer = (m) => {
  if (m.senderId === tokens.user.id) return;
  client.send(m.roomId, `echo: ${m.body}`);
  void client.markRead(m.roomId, m.seq);
};

// Follow a room live, answering first what arrived before it was open (an invitation and
// the first message can come together): history up to the room's seq at opening, live after.
async function follow(roomId) {
  const opened = await client.openRoom(roomId);
  const lastRead = opened.members.find((m) => m.user?.id === tokens.user.id)?.lastReadSeq ?? 0n;
  const page = await client.history(roomId, 0n, 50);
  for (const m of page.messages.reverse()) {
    if (m.seq > lastRead && m.seq <= (opened.room?.lastSeq ?? 0n)) answer(m);
  }
}

// Every room the bot is in now, and every room it is added to later.
client.on("ready", async () => {
  const list = await client.listRooms(500);
  for (const summary of list.rooms) if (summary.room) await follow(summary.room.id);
});
client.on("roomAdded", (added) => added.room?.room && follow(added.room.room.id));
client.on("message", answer);
client.connect();
