// A LAN for the ownership tests: a bridge in a namespace of its own, and hosts (namespaces made
// here, or node namespaces made by the cluster harness) plugged into it by veth pairs with fixed
// MACs. Only documentation and ULA addresses; everything made here is removed by remove().
import { execFileSync, spawnSync } from "node:child_process";

export function sh(ns: string, argv: string[]): string {
  const r = spawnSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} in ${ns}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export class Lan {
  readonly bridgeNs: string;
  private readonly made: string[] = [];
  private ports = 0;

  constructor(readonly tag: string) {
    this.bridgeNs = `v6m-own-${tag}-${process.pid}-lan`;
    this.addNamespace(this.bridgeNs);
    // a fixed MAC: a bridge otherwise takes the lowest of its ports' MACs, which changes as hosts join
    sh(this.bridgeNs, ["ip", "link", "add", "br0", "address", "02:00:5e:10:00:01", "type", "bridge"]);
    sh(this.bridgeNs, ["ip", "link", "set", "br0", "up"]);
  }

  /** A namespace of this LAN's own (removed with it). */
  host(name: string): string {
    const ns = `v6m-own-${this.tag}-${process.pid}-${name}`;
    this.addNamespace(ns);
    return ns;
  }

  /** Plug namespace `ns` into the bridge as interface `ifname` with hardware address `mac`. */
  plug(ns: string, ifname: string, mac: string, addresses: string[] = []): void {
    const port = `p${++this.ports}`;
    sh(this.bridgeNs, ["ip", "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns]);
    sh(this.bridgeNs, ["ip", "link", "set", port, "master", "br0", "up"]);
    sh(ns, ["ip", "link", "set", ifname, "address", mac]);
    for (const a of addresses) {
      sh(ns, ["ip", "addr", "add", a, "dev", ifname, ...(a.includes(":") ? ["nodad"] : [])]);
    }
    sh(ns, ["ip", "link", "set", ifname, "up"]);
  }

  /** The neighbour entry of `address` in namespace `ns`: its MAC and state, or undefined. */
  neighbour(ns: string, address: string): { lladdr?: string; state: string[] } | undefined {
    const out = JSON.parse(sh(ns, ["ip", "-j", "neigh", "show", address]) || "[]") as {
      lladdr?: string;
      state?: string[];
    }[];
    return out[0] ? { lladdr: out[0].lladdr, state: out[0].state ?? [] } : undefined;
  }

  /** The addresses of `ifname` in `ns`, with their remaining valid lifetimes. */
  addresses(ns: string, ifname: string): { local: string; valid: number }[] {
    const out = JSON.parse(sh(ns, ["ip", "-j", "addr", "show", "dev", ifname])) as {
      addr_info?: { local: string; valid_life_time: number }[];
    }[];
    return (out[0]?.addr_info ?? []).map((i) => ({ local: i.local, valid: i.valid_life_time }));
  }

  remove(): void {
    for (const ns of this.made.reverse()) spawnSync("ip", ["netns", "del", ns]);
  }

  private addNamespace(ns: string): void {
    execFileSync("ip", ["netns", "add", ns]);
    this.made.push(ns);
    sh(ns, ["ip", "link", "set", "lo", "up"]);
  }
}
