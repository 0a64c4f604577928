// The examples work as their comments say.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TestNode, account, client, online, inbox, until } from "./harness.mjs";

const examples = join(dirname(fileURLToPath(import.meta.url)), "..", "examples");

function run(t, script, args) {
  const child = spawn(process.execPath, [join(examples, script), ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  t.after(() => child.kill());
  const out = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (d) => (out.stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d) => (out.stderr += d));
  return { child, out };
}

test("the terminal chat sends what is typed and prints what arrives", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const bob = await account(node, "bob");
  const b = await online(client(node, bob));
  t.after(() => b.close());
  const got = inbox(b);
  const name = `alice_${process.pid}`;
  const cli = run(t, "cli-chat.mjs", [node.url, name, "alice password", "--signup", "--with", bob.user.username]);
  await until(() => cli.out.stderr.includes("type to send"), "the chat to start");
  const room = BigInt(/\[room (\d+):/.exec(cli.out.stderr)[1]);
  await b.openRoom(room);
  cli.child.stdin.write("hello from a terminal\n");
  await until(() => got.length === 1, "the typed line");
  assert.equal(got[0].body, "hello from a terminal");
  await b.send(room, "hello back").done;
  await until(() => cli.out.stdout.includes("bob: hello back"), "the reply in the terminal");
});

test("the echo bot answers", async (t) => {
  const node = await TestNode.start();
  t.after(() => node.destroy());
  const alice = await account(node, "alice");
  const a = await online(client(node, alice));
  t.after(() => a.close());
  const name = `echobot_${process.pid}`;
  const bot = run(t, "echo-bot.mjs", [node.url, name, "bot password", "--signup"]);
  const botUser = await until(async () => {
    try {
      return await a.call({ case: "getUser", value: { username: name } }, "user");
    } catch {
      return false;
    }
  }, "the bot's account");
  void bot;
  const room = await a.call({ case: "createDirectRoom", value: { peerId: botUser.id } }, "room");
  await a.openRoom(room.id);
  const got = inbox(a);
  await a.send(room.id, "ping?").done;
  await until(() => got.some((m) => m.body === "echo: ping?"), "the echo");
});
