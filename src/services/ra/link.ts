// What the RA sender needs to know about its interface, read from the kernel: index, the
// link-local address to send from, the link-layer address, the MTU. Linux only (/proc, /sys).
import { readFileSync } from "node:fs";
import { interfaceIndex } from "../../util/sys/libc.ts";
import type { Link } from "./advert.ts";
import { fromHex, ipv6Text } from "./wire.ts";

const IFA_F_TENTATIVE = 0x40;
const IFA_F_DADFAILED = 0x08;
const ARPHRD_ETHER = 1;

export interface LinkLocal {
  address: string;
  tentative: boolean;
  dadFailed: boolean;
}

/** The interface's link-local addresses from /proc/net/if_inet6. */
export function linkLocals(ifname: string, text = readFileSync("/proc/net/if_inet6", "utf8")): LinkLocal[] {
  const out: LinkLocal[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[5] !== ifname) continue;
    const scope = Number.parseInt(f[3]!, 16);
    const flags = Number.parseInt(f[4]!, 16);
    if (scope !== 0x20) continue;
    out.push({
      address: ipv6Text(fromHex(f[0]!)),
      tentative: (flags & IFA_F_TENTATIVE) !== 0,
      dadFailed: (flags & IFA_F_DADFAILED) !== 0,
    });
  }
  return out;
}

function sys(ifname: string, file: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${ifname}/${file}`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * Read the interface; waits up to `waitMs` for a usable link-local address (Duplicate Address
 * Detection keeps a new one tentative for about a second, RFC 4862 §5.4). Throws a clear error when
 * the interface is missing or never gets one.
 */
export async function readLink(ifname: string, waitMs = 5000): Promise<Link> {
  const index = interfaceIndex(ifname);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const usable = linkLocals(ifname).find((l) => !l.tentative && !l.dadFailed);
    if (usable) {
      const type = Number(sys(ifname, "type") ?? "0");
      const mac = type === ARPHRD_ETHER ? sys(ifname, "address") : undefined;
      return {
        name: ifname,
        index,
        linkLocal: usable.address,
        mac,
        mtu: Number(sys(ifname, "mtu") ?? "1280"),
      };
    }
    if (Date.now() >= deadline) {
      const all = linkLocals(ifname);
      const why =
        all.length === 0
          ? "has no IPv6 link-local address (is IPv6 disabled on it, or addr_gen_mode none?)"
          : `has link-local ${all.map((l) => `${l.address}${l.dadFailed ? " (duplicate)" : " (tentative)"}`).join(", ")} but none usable yet`;
      throw new Error(
        `interface ${ifname} ${why}; RFC 4861 §6.1.2: advertisements must come from a link-local address`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
