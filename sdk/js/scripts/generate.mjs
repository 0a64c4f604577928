// Generates the chat.v1 frame types (src/gen/) from the repository's proto/ with protoc and
// protoc-gen-es. The output is checked in so that the package builds without protoc; the
// test command regenerates it and fails when it differs.
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const protoRoot = join(root, "..", "..", "proto");
const out = join(root, "src", "gen");
const protos = readdirSync(join(protoRoot, "chat", "v1"))
  .filter((f) => f.endsWith(".proto"))
  .sort()
  .map((f) => `chat/v1/${f}`);

rmSync(out, { recursive: true, force: true });
execFileSync("mkdir", ["-p", out]);
execFileSync(
  "protoc",
  [
    `-I${protoRoot}`,
    `--plugin=protoc-gen-es=${join(root, "node_modules", ".bin", "protoc-gen-es")}`,
    `--es_out=${out}`,
    "--es_opt=target=ts,import_extension=js",
    ...protos,
  ],
  { cwd: protoRoot, stdio: "inherit" },
);
