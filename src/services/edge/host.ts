/**
 * What an EdgeTranslation needs of the host besides its table: forwarding on (checked, never
 * set: a pod cannot set it, and a router's forwarding is the operator's decision), and the
 * default routes out of the outside interface. Routes are recorded in a ledger under the state
 * directory before they are made, with the default routes they replaced, and undone on stop (or at
 * the next start after a crash); a default route that is already the one asked for is left alone
 * and not recorded, so stop never removes a route it did not make.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { EdgeTranslationSpec } from "../../api/edgetranslation.ts";
import { inRange, parseAddress, prefixRange, type Span } from "../../util/net.ts";

const exec = promisify(execFile);

async function ip(args: string[]): Promise<string> {
  const { stdout } = await exec("ip", args, { maxBuffer: 16 << 20 });
  return stdout;
}

const FORWARDING = {
  4: "/proc/sys/net/ipv4/ip_forward",
  6: "/proc/sys/net/ipv6/conf/all/forwarding",
} as const;

/** The families an EdgeTranslation forwards. */
export function familiesOf(s: EdgeTranslationSpec): (4 | 6)[] {
  const out: (4 | 6)[] = [];
  if (s.snat44 || s.dnat44.length) out.push(4);
  if (s.snat66 || s.dnat66.length) out.push(6);
  return out;
}

/** Sentences naming each forwarding sysctl that is off for a family the resource translates. */
export function forwardingProblems(
  s: EdgeTranslationSpec,
  read: (path: string) => string = (p) => readFileSync(p, "utf8"),
): string[] {
  const problems: string[] = [];
  for (const f of familiesOf(s)) {
    const path = FORWARDING[f];
    let value: string;
    try {
      value = read(path).trim();
    } catch (e) {
      problems.push(`cannot read ${path}: ${(e as Error).message}`);
      continue;
    }
    if (value !== "1") {
      const name = path.slice("/proc/sys/".length).replaceAll("/", ".");
      problems.push(
        `${name} is ${value}: this node must forward IPv${f} (sysctl -w ${name}=1, or a sysctl.d file)`,
      );
    }
  }
  return problems;
}

/** The spec's external address space, by field: what the table translates on the outside link. */
function externalSpaces(s: EdgeTranslationSpec): { field: string; span: Span }[] {
  return [
    ...(s.snat44?.pool ?? []).map((span, i) => ({ field: `snat44.pool[${i}]`, span })),
    ...s.dnat44.map((m, i) => ({ field: `dnat44[${i}].external`, span: m.external })),
    ...(s.snat66?.pool ?? []).map((span, i) => ({ field: `snat66.pool[${i}]`, span })),
    ...(s.snat66?.nptv6
      ? [{ field: "snat66.nptv6.outside", span: prefixRange(s.snat66.nptv6.outside) }]
      : []),
    ...s.dnat66.map((m, i) => ({ field: `dnat66[${i}].external`, span: m.external })),
  ];
}

/**
 * The outside interface's own addresses that fall in the external space: the DNAT maps would take
 * traffic meant for this node (its SSH, its routing) to the LAN, and a pool would hand the node's
 * address to inside hosts. One sentence per clash.
 */
export function ownAddressClashes(s: EdgeTranslationSpec, own: readonly string[]): string[] {
  const problems: string[] = [];
  for (const text of own) {
    const a = parseAddress(text);
    if (!a.ok) continue;
    for (const e of externalSpaces(s)) {
      if (inRange(e.span, a.value.family, a.value.value))
        problems.push(
          `${text} on ${s.outsideInterface} is this node's own address and lies in spec.${e.field}: the table would translate traffic meant for the node; take it out of the range`,
        );
    }
  }
  return problems;
}

/** The addresses of an interface (none when it does not exist: iifname rules wait for it). */
export async function interfaceAddresses(dev: string): Promise<string[]> {
  let out: string;
  try {
    out = await ip(["-j", "addr", "show", "dev", dev]);
  } catch {
    return [];
  }
  const links = (out.trim() ? JSON.parse(out) : []) as { addr_info?: { local: string }[] }[];
  return links.flatMap((l) => l.addr_info ?? []).map((a) => a.local);
}

interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
}

interface LedgerRoute {
  family: 4 | 6;
  via: string;
  dev: string;
  /** the default routes of that family before ours, restored on undo */
  previous: RouteJson[];
}

export class EdgeRoutes {
  private readonly path: string;
  private routes: LedgerRoute[] = [];

  constructor(stateDir: string, ledgerName: string) {
    mkdirSync(stateDir, { recursive: true });
    this.path = join(stateDir, `${ledgerName}.routes.json`);
  }

  private save(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.routes));
    renameSync(tmp, this.path);
  }

  /** Undoes what a crashed run recorded. */
  async cleanStale(): Promise<void> {
    if (!existsSync(this.path)) return;
    try {
      await undo(JSON.parse(readFileSync(this.path, "utf8")) as LedgerRoute[]);
    } finally {
      rmSync(this.path, { force: true });
    }
  }

  /** Makes the default routes of `s` true (after remove() on an update). */
  async apply(s: EdgeTranslationSpec): Promise<void> {
    for (const family of [4, 6] as const) {
      const via = family === 4 ? s.defaultRoute?.ipv4 : s.defaultRoute?.ipv6;
      if (!via) continue;
      const dev = s.outsideInterface;
      const before = await defaults(family);
      if (before.some((r) => r.gateway === via.text && r.dev === dev)) continue;
      this.routes.push({ family, via: via.text, dev, previous: before });
      this.save();
      await ip([`-${family}`, "route", "replace", "default", "via", via.text, "dev", dev]);
    }
  }

  async remove(): Promise<void> {
    await undo(this.routes);
    this.routes = [];
    rmSync(this.path, { force: true });
  }
}

async function defaults(family: 4 | 6): Promise<RouteJson[]> {
  const out = await ip(["-j", `-${family}`, "route", "show", "default"]);
  return out.trim() ? (JSON.parse(out) as RouteJson[]) : [];
}

async function undo(routes: readonly LedgerRoute[]): Promise<void> {
  for (const r of [...routes].reverse()) {
    const f = `-${r.family}`;
    await ip([f, "route", "del", "default", "via", r.via, "dev", r.dev]).catch(() => undefined);
    for (const p of r.previous) {
      if (!p.gateway || !p.dev) continue;
      const metric = p.metric === undefined ? [] : ["metric", String(p.metric)];
      await ip([f, "route", "add", "default", "via", p.gateway, "dev", p.dev, ...metric]).catch(
        () => undefined,
      );
    }
  }
}
