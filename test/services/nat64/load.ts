/**
 * A flood of new sessions through a translator in the three-namespace lab (lab.ts), counted at
 * every hop: the client's sender, the kernel's queue into the TUN device, the translator, the
 * server's input. Shared by growth.test.ts and bench/nat64-memory.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Lab, REPO, SERVER6 } from "./lab.ts";

/** A device's packet counters (`ip -s link`): for a TUN, tx is what the kernel queued for the translator. */
export interface LinkCounters {
  rx: number;
  rxDropped: number;
  tx: number;
  txDropped: number;
}

export function linkCounters(lab: Lab, ns: string, dev: string): LinkCounters {
  const s = JSON.parse(lab.ns(ns, ["ip", "-s", "-j", "link", "show", dev]))[0].stats64;
  return { rx: s.rx.packets, rxDropped: s.rx.dropped, tx: s.tx.packets, txDropped: s.tx.dropped };
}

/** Counts the UDP datagrams the server receives (an nftables counter; they are dropped after). */
export function serverCounter(lab: Lab): () => number {
  lab.ns(
    lab.s,
    ["nft", "-f", "-"],
    "table inet v6mcount {\n chain input {\n type filter hook input priority 0;\n udp dport 1-65535 counter drop\n }\n}\n",
  );
  return () => {
    const m = /packets (\d+)/.exec(lab.ns(lab.s, ["nft", "list", "chain", "inet", "v6mcount", "input"]));
    return m ? Number(m[1]) : 0;
  };
}

/**
 * `n` datagrams at `rate` a second from the client to SERVER6, each a new session (paced.py):
 * "sessions" to n destination ports from one socket, "mappings" from n source ports.
 */
export function offerSessions(
  lab: Lab,
  n: number,
  rate: number,
  mode: "sessions" | "mappings" = "sessions",
): { sent: number; errors: number; seconds: number } {
  const script = join(REPO, "test/services/nat64/paced.py");
  return JSON.parse(lab.ns(lab.c, ["python3", script, SERVER6, String(n), String(rate), mode]));
}

/** The kernel's own drops on every CPU's input backlog (/proc/net/softnet_stat, second column). */
export function softnetDrops(): number {
  return readFileSync("/proc/net/softnet_stat", "utf8")
    .trim()
    .split("\n")
    .reduce((a, l) => a + Number.parseInt(l.split(" ")[1]!, 16), 0);
}

/** A process's memory from /proc (MiB): resident now and at its peak, and resident anonymous and file-backed pages. */
export function memoryOf(pid: number): { rss: number; peak: number; anon: number; file: number } {
  const st = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? 0) / 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM"), anon: kb("RssAnon"), file: kb("RssFile") };
}
