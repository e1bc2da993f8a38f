// The addresses that move with an owned assignment, on this node's interfaces, through iproute2
// (`ip`, argument arrays, never a shell):
// - each goes on the interface the owner names, or else on the interface whose own subnet holds
//   it (a DNS64 listen address on the LAN), as a /32 or /128 without Duplicate Address Detection
//   (the previous owner is gone or fenced: waiting ~1 s for DAD would only delay the takeover);
// - with a valid lifetime that ends at the Lease's renew deadline, renewed with every renewal, so
//   that an agent killed with SIGKILL or frozen leaves nothing behind that answers ARP or NS for
//   long: the kernel removes the address itself (keepalived, killed, leaves its addresses up);
// - recorded in a ledger file under the state directory before they are added, removed on release,
//   and a ledger left by a crash is undone at the next start (as services/nat64/host.ts does).
// An address already configured permanently on the interface (by the administrator) is left
// alone: never taken over, never removed.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Address, format, inRange, parsePrefix, prefixRange } from "../../util/net.ts";
import type { HostAddress } from "../../util/sys/announce.ts";

const exec = promisify(execFile);

async function ip(args: string[]): Promise<string> {
  const { stdout } = await exec("ip", args, { maxBuffer: 16 << 20 });
  return stdout;
}

/** One interface as `ip -j addr show` prints it (the fields used here). */
export interface IpLink {
  ifname: string;
  address?: string;
  addr_info?: { family: string; local: string; prefixlen: number; valid_life_time?: number }[];
}

/** An owned address placed on an interface. */
export type { HostAddress };

/** `ip` prints this valid lifetime for an address that never expires. */
const FOREVER = 4294967295;

/**
 * Where each address goes: on `fixed` when the owner names an interface, else on the interface
 * with an address of a subnet that holds it (host routes, /32 and /128, do not count: they are
 * owned addresses themselves). Pure. An address no interface can carry is an error naming it.
 */
export function placeAddresses(
  addresses: readonly Address[],
  links: readonly IpLink[],
  fixed?: string,
): { ok: true; value: HostAddress[] } | { ok: false; error: string } {
  const out: HostAddress[] = [];
  for (const text of addresses) {
    const { family, value } = text;
    if (fixed) {
      if (!links.some((l) => l.ifname === fixed))
        return { ok: false, error: `interface ${fixed} does not exist on this node` };
      out.push({ address: format(family, value), family, dev: fixed });
      continue;
    }
    const full = family === 4 ? 32 : 128;
    const link = links.find(
      (l) =>
        l.ifname !== "lo" &&
        (l.addr_info ?? []).some((i) => {
          if (i.family !== (family === 4 ? "inet" : "inet6") || i.prefixlen >= full) return false;
          const p = parsePrefix(`${i.local}/${i.prefixlen}`, family, false);
          return p.ok && inRange(prefixRange(p.value), family, value);
        }),
    );
    if (!link)
      return {
        ok: false,
        error: `no interface on this node has an address in a subnet that holds ${text}: give the LAN interface its own address there`,
      };
    out.push({ address: format(family, value), family, dev: link.ifname });
  }
  return { ok: true, value: out };
}

interface Ledger {
  addresses: HostAddress[];
}

const hostPrefix = (h: HostAddress) => `${h.address}/${h.family === 4 ? 32 : 128}`;

export class OwnedAddresses {
  private readonly ledgerPath: string;
  private held: HostAddress[] = [];

  constructor(
    stateDir: string,
    /** the Lease name: one ledger per owned assignment */
    name: string,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void,
  ) {
    mkdirSync(stateDir, { recursive: true });
    this.ledgerPath = join(stateDir, `owner-${name}.addresses.json`);
  }

  /** The addresses this node carries now. */
  get current(): readonly HostAddress[] {
    return this.held;
  }

  /** Removes what a previous (crashed) process recorded and did not remove. */
  async cleanStale(): Promise<void> {
    if (!existsSync(this.ledgerPath)) return;
    try {
      const old = JSON.parse(readFileSync(this.ledgerPath, "utf8")) as Ledger;
      this.log("removing addresses left by a previous run", { addresses: old.addresses.map(hostPrefix) });
      await this.delete(old.addresses);
    } catch (e) {
      this.log("could not read the previous address ledger", { error: (e as Error).message });
    }
    rmSync(this.ledgerPath, { force: true });
  }

  /**
   * Puts `wanted` on their interfaces with a valid lifetime of `lifetimeS` seconds. Addresses the
   * interface already has permanently are left out (and said so). Returns what was added.
   */
  async add(wanted: readonly HostAddress[], lifetimeS: number): Promise<HostAddress[]> {
    const mine: HostAddress[] = [];
    for (const h of wanted) {
      if (await this.permanent(h)) {
        this.log("address already configured on the interface: it stays and does not move", {
          address: h.address,
          dev: h.dev,
        });
        continue;
      }
      mine.push(h);
    }
    this.held = [...mine];
    this.save();
    await this.replace(mine, lifetimeS);
    return mine;
  }

  /** Extends the lifetime of the addresses held (after a Lease renewal). */
  async refresh(lifetimeS: number): Promise<void> {
    await this.replace(this.held, lifetimeS);
  }

  /** Removes the addresses held, then the ledger. */
  async remove(): Promise<void> {
    await this.delete(this.held);
    this.held = [];
    rmSync(this.ledgerPath, { force: true });
  }

  private async replace(list: readonly HostAddress[], lifetimeS: number): Promise<void> {
    const life = String(Math.max(1, Math.floor(lifetimeS)));
    for (const h of list) {
      await ip([
        `-${h.family}`,
        "addr",
        "replace",
        hostPrefix(h),
        "dev",
        h.dev,
        ...(h.family === 6 ? ["nodad"] : []),
        "valid_lft",
        life,
        "preferred_lft",
        life,
      ]);
    }
  }

  private async delete(list: readonly HostAddress[]): Promise<void> {
    for (const h of list) {
      await ip([`-${h.family}`, "addr", "del", hostPrefix(h), "dev", h.dev]).catch(() => undefined);
    }
  }

  private async permanent(h: HostAddress): Promise<boolean> {
    const links = JSON.parse(await ip(["-j", `-${h.family}`, "addr", "show", "dev", h.dev])) as IpLink[];
    return links.some((l) =>
      (l.addr_info ?? []).some(
        (i) => i.local === h.address && (i.valid_life_time === undefined || i.valid_life_time === FOREVER),
      ),
    );
  }

  private save(): void {
    const tmp = `${this.ledgerPath}.tmp`;
    writeFileSync(tmp, JSON.stringify({ addresses: this.held } satisfies Ledger));
    renameSync(tmp, this.ledgerPath);
  }
}

/** Every interface of this network namespace with its addresses. */
export async function readLinks(): Promise<IpLink[]> {
  return JSON.parse(await ip(["-j", "addr", "show"])) as IpLink[];
}
