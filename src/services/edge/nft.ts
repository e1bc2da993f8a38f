/**
 * Debian's `nft` (package nftables), run with argument arrays and the ruleset on standard input,
 * never through a shell. Only tables named by the caller are touched.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { gunzipSync } from "node:zlib";

/** nft failed; `message` is nft's own (its standard error), `missing` when nft is not installed. */
export class NftError extends Error {
  constructor(
    message: string,
    readonly missing = false,
  ) {
    super(message);
    this.name = "NftError";
  }
}

function nft(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("nft", args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException;
      if (e.code === "ENOENT")
        return reject(new NftError("nft is not installed (Debian package nftables)", true));
      reject(new NftError(String(stderr).trim() || e.message));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Loads a ruleset file's text in one transaction (`nft -f -`): all of it or nothing. */
export async function nftLoad(text: string): Promise<void> {
  await nft(["-f", "-"], text);
}

/** Deletes one table; a table that is not there is not an error. */
export async function nftDeleteTable(family: string, table: string): Promise<void> {
  // `destroy` (nft 1.0.8) does not exist in bookworm's 1.0.6: create-then-delete in one batch.
  await nft(["-f", "-"], `table ${family} ${table} {}\ndelete table ${family} ${table}\n`);
}

/** `nft -j list table`: the table's objects (metainfo left out), or undefined when it is absent. */
export async function nftListTable(family: string, table: string): Promise<unknown[] | undefined> {
  try {
    const out = await nft(["-j", "list", "table", family, table]);
    const parsed = JSON.parse(out) as { nftables: Record<string, unknown>[] };
    return parsed.nftables.filter((o) => !("metainfo" in o));
  } catch (e) {
    if (e instanceof NftError && !e.missing && /No such file or directory/.test(e.message)) return undefined;
    throw e;
  }
}

/** Packets counted by each rule's `counter`, summed per chain of one table. */
export async function nftChainPackets(family: string, table: string): Promise<Record<string, number>> {
  const objects = (await nftListTable(family, table)) ?? [];
  const packets: Record<string, number> = {};
  for (const o of objects as { rule?: { chain: string; expr: Record<string, unknown>[] } }[]) {
    if (!o.rule) continue;
    for (const x of o.rule.expr) {
      const c = x.counter as { packets?: number } | undefined;
      if (c?.packets !== undefined) packets[o.rule.chain] = (packets[o.rule.chain] ?? 0) + c.packets;
    }
  }
  return packets;
}

/** What a host says about NAT in its kernel, from files a reader returns (undefined: unreadable). */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    if (!existsSync(path)) return undefined;
    const b = readFileSync(path);
    return path.endsWith(".gz") ? gunzipSync(b).toString() : b.toString();
  } catch {
    return undefined;
  }
};

/**
 * Whether the kernel has nf_nat (and nftables' NAT expressions), the core every nat chain needs:
 * loaded (/proc/modules, /sys/module), built in or loadable (modules.builtin, modules.dep), or
 * configured (/proc/config.gz). "unknown" when none of these can be read: the load will tell.
 */
export function natSupport(read: ReadText = readText, kernel = release()): "yes" | "no" | "unknown" {
  if (read("/sys/module/nf_nat/uevent") !== undefined) return "yes";
  const modules = read("/proc/modules");
  if (modules && /^nf_nat /m.test(modules)) return "yes";
  let known = false;
  for (const f of ["modules.builtin", "modules.dep"]) {
    const t = read(`/lib/modules/${kernel}/${f}`);
    if (t === undefined) continue;
    known = true;
    if (/(^|\/)nf_nat\.ko/m.test(t)) return "yes";
  }
  const config = read("/proc/config.gz");
  if (config !== undefined) return /^CONFIG_NF_NAT=[ym]$/m.test(config) ? "yes" : "no";
  return known ? "no" : "unknown";
}
