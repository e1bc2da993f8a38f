// Namespaces for the neighbour responder's tests and bench: a "home gateway" namespace (the Linux
// kernel as the neighbour that resolves addresses) joined by veth pairs to the responder's
// namespace. Names carry the PID; everything is removed in cleanup(), processes ended by PID.
import { Proc, sh } from "../../ra/lab.ts";

export { missing, Proc, sh } from "../../ra/lab.ts";

/** Resolve when `fn` gives a value (asked every 200 ms), reject after `ms`. */
export async function waitFor<T>(
  fn: () => Promise<T | false | undefined> | T | false | undefined,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export const FIXTURES = "test/services/edge/responder/fixtures";
/** a documentation MAC (RFC 7042 §2.1.1): the "FortiGate" the responder answers for */
export const BOX_MAC = "00:00:5e:00:53:fb";

export interface Link {
  /** the responder's end */
  r: string;
  /** the gateway's end */
  g: string;
}

export class NeighbourLab {
  readonly r: string;
  readonly g: string;
  private readonly id: string;
  private readonly procs: Proc[] = [];
  private links = 0;

  constructor(tag: string) {
    this.id = `${process.pid}${tag}`;
    this.r = `v6m-nb-${this.id}-r`;
    this.g = `v6m-nb-${this.id}-g`;
  }

  setup(): void {
    sh(undefined, ["ip", "netns", "add", this.r]);
    sh(undefined, ["ip", "netns", "add", this.g]);
    for (const ns of [this.r, this.g]) sh(ns, ["ip", "link", "set", "lo", "up"]);
  }

  /** A veth pair between the namespaces, both ends up. */
  link(): Link {
    const n = this.links++;
    const l = { r: `nb${this.id}r${n}`.slice(-15), g: `nb${this.id}g${n}`.slice(-15) };
    sh(undefined, `ip link add ${l.r} netns ${this.r} type veth peer name ${l.g} netns ${this.g}`.split(" "));
    sh(this.r, ["ip", "link", "set", l.r, "up"]);
    sh(this.g, ["ip", "link", "set", l.g, "up"]);
    return l;
  }

  /** The responder fixture in the responder's namespace; resolves once it says ready. */
  async responder(
    ifname: string,
    ipv4: string,
    ipv6: string,
    mac: string,
    rate?: number,
  ): Promise<Responder> {
    const p = this.start(this.r, [
      process.execPath,
      "--import",
      "tsx",
      `${FIXTURES}/responder.ts`,
      ifname,
      ipv4,
      ipv6,
      mac,
      ...(rate === undefined ? [] : [String(rate)]),
    ]);
    await p.until(() => p.json().some((j) => j.ready), 30_000, "the responder to start");
    return new Responder(p);
  }

  /** The sender fixture in the gateway's namespace; resolves to its JSON line. */
  async send<T>(args: string[]): Promise<T> {
    const p = this.start(this.g, [process.execPath, "--import", "tsx", `${FIXTURES}/send.ts`, ...args]);
    const line = await p.until(() => p.json<T>()[0], 60_000, "the sender");
    await p.exited(10_000);
    return line;
  }

  start(ns: string, cmd: string[]): Proc {
    const p = new Proc(ns, cmd);
    this.procs.push(p);
    return p;
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) await p.kill();
    sh(undefined, ["ip", "netns", "del", this.r], { allowFail: true });
    sh(undefined, ["ip", "netns", "del", this.g], { allowFail: true });
  }
}

/** The running fixture: its counters on demand, stop() without exiting. */
export class Responder {
  constructor(readonly proc: Proc) {}

  /** Counters now. */
  stats(): Promise<Record<string, number>> {
    return this.ask("stats", '{"stats"');
  }

  /** stop(), then the counters. */
  stop(): Promise<Record<string, number>> {
    return this.ask("stop", '{"stopped"');
  }

  private async ask(command: string, answer: string): Promise<Record<string, number>> {
    const before = this.proc.lines.length;
    this.proc.send(command);
    const j = await this.proc.until(
      () => this.proc.lines.slice(before).find((l) => l.startsWith(answer)),
      10_000,
      command,
    );
    return (JSON.parse(j) as { stats: Record<string, number> }).stats;
  }
}

/** The gateway kernel's neighbour entry for `address` on `ifname` (ip -j neigh). */
export function neighbour(
  ns: string,
  ifname: string,
  address: string,
): { lladdr?: string; state: string[] } | undefined {
  const j = JSON.parse(sh(ns, ["ip", "-j", "neigh", "show", "to", address, "dev", ifname])) as {
    lladdr?: string;
    state: string[];
  }[];
  return j[0];
}

/** The MAC the gateway's kernel has learnt for `address`, waiting up to 5 s for it (a loaded machine answers late). */
export async function learnt(ns: string, ifname: string, address: string): Promise<string | undefined> {
  try {
    return await waitFor(
      () => neighbour(ns, ifname, address)?.lladdr,
      5000,
      `a link-layer address for ${address}`,
    );
  } catch {
    return undefined;
  }
}

/** One ping (IPv4 or IPv6 by the address): nothing answers it, but it makes the kernel resolve the address. */
export function resolve(ns: string, address: string): void {
  sh(ns, ["ping", "-c1", "-W1", address], { allowFail: true });
}
