// A byte relay between two stream endpoints, each a Unix socket path or host:port. The test process
// reaches an API server that listens only inside a network namespace through two of them:
//
//   test process -> 127.0.0.1:ephemeral (relay in this namespace) -> DIR/api.sock
//                -> relay inside the control-plane namespace -> 10.96.0.1:443 (kube-apiserver)
//
// A Unix socket is a file, not bound to a network namespace, so it joins the two. TLS passes through
// untouched. Not an open relay: it listens on loopback or in a 0700 directory, and connects only to
// the one target it was started with. It runs as a process of its own (not in the test's event
// loop), so a test may block on a synchronous call (kubectl through execFileSync) while it relays.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Daemon } from "./netns.ts";

// CommonJS for `node -e`; argv: listen target readyFile. Writes its bound address to readyFile.
const SCRIPT = `
const net = require("node:net");
const fs = require("node:fs");
const [listen, target, readyFile] = process.argv.slice(1);
const endpoint = (s) => s.startsWith("/") ? { path: s } :
  { host: s.slice(0, s.lastIndexOf(":")).replace(/^\\[|\\]$/g, ""), port: Number(s.slice(s.lastIndexOf(":") + 1)) };
const server = net.createServer((a) => {
  const b = net.connect(endpoint(target));
  a.pipe(b).pipe(a);
  const end = () => { a.destroy(); b.destroy(); };
  a.on("error", end); b.on("error", end); a.on("close", end); b.on("close", end);
});
server.listen(endpoint(listen), () => {
  const addr = server.address();
  fs.writeFileSync(readyFile + ".tmp", typeof addr === "string" ? addr : addr.address + ":" + addr.port);
  fs.renameSync(readyFile + ".tmp", readyFile);
});
process.on("SIGTERM", () => process.exit(0));
`;

export interface Relay {
  daemon: Daemon;
  /** where it listens: a socket path, or 127.0.0.1:PORT */
  address: string;
}

/** Start a relay from `listen` to `target` inside `ns` (this namespace if undefined). */
export async function startRelay(
  name: string,
  ns: string | undefined,
  listen: string,
  target: string,
  dir: string,
): Promise<Relay> {
  const readyFile = join(dir, `${name}.addr`);
  const daemon = new Daemon(
    name,
    ns,
    [process.execPath, "-e", SCRIPT, listen, target, readyFile],
    join(dir, `${name}.log`),
  );
  for (let waited = 0; !existsSync(readyFile); waited += 20) {
    if (!daemon.running || waited > 10_000) {
      await daemon.stop("SIGKILL");
      throw new Error(`relay ${name} did not start:\n${daemon.tail()}`);
    }
    await sleep(20);
  }
  return { daemon, address: readFileSync(readyFile, "utf8") };
}
