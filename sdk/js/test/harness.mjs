// Starts a real chatnode for the SDK's tests: CHATNODE_BIN (default: the workspace's debug
// build), port 0 unless told, an embedded store in a fresh directory, cheap password
// hashing, no rate limits unless a test sets them.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { ChatClient, HttpApi, Session } from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.CHATNODE_BIN || join(here, "..", "..", "..", "target", "debug", "chatnode");

const DEFAULTS = {
  CHAT__AUTH__SIGNING_KEY: Buffer.alloc(32, 7).toString("base64"),
  CHAT__AUTH__ARGON2_MEMORY_KIB: "1024",
  CHAT__AUTH__ARGON2_ITERATIONS: "1",
  CHAT__LOG__LEVEL: "info,fjall=warn,lsm_tree=warn",
  CHAT__STORE__BACKEND: "embedded",
  CHAT__LIMITS__MESSAGES_PER_SEC: "1000000",
  CHAT__LIMITS__MESSAGE_BURST: "1000000",
  CHAT__LIMITS__ROOMS_PER_HOUR: "1000000",
  CHAT__LIMITS__SIGNUPS_PER_IP_PER_HOUR: "1000000",
  CHAT__LIMITS__LOGINS_PER_IP_PER_MIN: "1000000",
};

/** A chatnode process; `restart()` brings it back on the same port and data. */
export class TestNode {
  static async start(env = {}) {
    const node = new TestNode(mkdtempSync(join(tmpdir(), "chat-sdk-")), env);
    await node.launch("127.0.0.1:0");
    return node;
  }

  constructor(dataDir, env) {
    this.dataDir = dataDir;
    this.env = env;
  }

  launch(listen) {
    const env = { PATH: process.env.PATH, ...DEFAULTS, ...this.env };
    env.CHAT__NODE__DATA_DIR = this.dataDir;
    env.CHAT__HTTP__LISTEN = listen;
    this.proc = spawn(BIN, [], { env, stdio: ["ignore", "pipe", "inherit"] });
    return new Promise((resolve, reject) => {
      let buffered = "";
      const onData = (chunk) => {
        buffered += chunk;
        const m = /http_addr=(\S+)/.exec(buffered);
        if (m) {
          this.addr = m[1].replace(/\x1b\[[0-9;]*m/g, "");
          this.url = `http://${this.addr}`;
          this.proc.stdout.off("data", onData);
          this.proc.stdout.resume();
          resolve();
        }
      };
      this.proc.stdout.setEncoding("utf8");
      this.proc.stdout.on("data", onData);
      this.proc.once("exit", (code) => reject(new Error(`chatnode exited (${code}) before ready`)));
      this.proc.once("error", reject);
    });
  }

  /** Stops the node (SIGTERM: it drains, closing sockets with 4000) and waits for it. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGTERM");
    await exited;
  }

  async restart() {
    await this.stop();
    await this.launch(this.addr);
  }

  pause() {
    this.proc.kill("SIGSTOP");
  }

  resume() {
    this.proc.kill("SIGCONT");
  }

  async destroy() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill("SIGCONT");
      const exited = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGKILL");
      await exited;
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  http() {
    return new HttpApi(this.url);
  }
}

let counter = 0;

/** A new account: its tokens, its Session, and a client factory. */
export async function account(node, name) {
  counter += 1;
  const username = `${name}_${process.pid % 10000}_${counter}`;
  const http = node.http();
  const tokens = await http.signup(username, name, "correct horse battery");
  const session = new Session(http, tokens);
  return { user: tokens.user, tokens, session };
}

/** A client of `acct` on `node`, using the `ws` package (Node 20 has no global WebSocket). */
export function client(node, acct, options = {}) {
  return new ChatClient({
    url: node.url,
    tokens: acct.session.tokenSource,
    WebSocket,
    ...options,
  });
}

/** Resolves when `emitter` emits `event` with arguments passing `test` (or rejects after `ms`). */
export function next(emitter, event, test = () => true, ms = 20_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} event in ${ms} ms`));
    }, ms);
    const off = emitter.on(event, (...args) => {
      if (!test(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args.length > 1 ? args : args[0]);
    });
  });
}

/** Waits until `f()` is truthy, polling (a condition, not a fixed sleep); returns it. */
export async function until(f, what, ms = 20_000) {
  const start = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Collects every `message` event of a client. */
export function inbox(c) {
  const messages = [];
  c.on("message", (m) => messages.push(m));
  return messages;
}

/** A connected client, online. */
export async function online(c) {
  const ready = next(c, "ready");
  c.connect();
  await ready;
  return c;
}

/** A group room of `owner` with `members`. */
export async function groupRoom(c, members, name = "room") {
  return c.call(
    { case: "createGroupRoom", value: { name, memberIds: members.map((m) => m.user.id) } },
    "room",
  );
}
