/**
 * An EdgeTranslation as one nftables table: a pure function from the assignment to the text that
 * `nft -f` loads. The table is v6mostly's alone (`inet v6mostly-edge-<name>`); the text first
 * creates it empty, then deletes it and adds it whole, so one `nft -f` replaces it in a single
 * transaction (the kernel applies the batch or nothing) and never touches another table.
 *
 *   prerouting  (nat, dstnat)   DNAT44 / DNAT66 ranges, NPTv6 inbound        FortiOS vip / vip6
 *   postrouting (nat, srcnat)   inbound SNAT66, SNAT44, SNAT66 / NPTv6       ippool, ippool6, nat enable
 *   forward     (filter)        outside -> inside only when translated       policy / policy6 wan -> lan
 *
 * Static range mappings are netmaps (`dnat ip prefix to ... map`): the kernel keeps the host bits
 * under the mask, so each external address maps to the internal address at the same offset when
 * both sides of a map element are prefixes aligned alike. offsetBlocks() cuts a mapping into such
 * pairs.
 */
import type { AssignmentIdentity, EdgeAssignment } from "../../planner/plan.ts";
import { type Family, format, type Prefix, type Range, type Span } from "../../util/net.ts";

/** More map elements than this for one mapping is refused (the ranges are misaligned). */
export const MAX_BLOCKS = 65_536;

/** `v6mostly-edge-<name>`, with the namespace outside the default one (`<ns>.<name>`). */
export function tableName(a: AssignmentIdentity): string {
  const ns = a.namespace && a.namespace !== "default" ? `${a.namespace}.` : "";
  return `v6mostly-edge-${ns}${a.name}`;
}

/** One element of a netmap: a prefix (the map's key) and the prefix of the same length it becomes. */
export interface Block {
  family: Family;
  from: bigint;
  to: bigint;
  length: number;
}

/** A whole prefix onto another of its length (NPTv6, RFC 6296 §3.1: 1:1 in both directions). */
const prefixBlock = (from: Prefix, to: Prefix): Block => ({
  family: 6,
  from: from.network,
  to: to.network,
  length: from.length,
});

/** A mapping whose ranges cannot be cut into at most MAX_BLOCKS aligned pairs. */
export class MappingTooFragmented extends Error {}

const trailingZeros = (v: bigint, bits: number): number => {
  if (v === 0n) return bits;
  let n = 0;
  while (((v >> BigInt(n)) & 1n) === 0n) n++;
  return n;
};

/**
 * Cuts external -> internal (equal sizes, checked by validation) into the fewest pairs of prefixes
 * such that each external address lands on the internal address at the same offset. A block can be
 * as large as both its starts are aligned: at most 2^(trailing zeros of the offset between them).
 */
export function offsetBlocks(external: Span, internal: Span): Block[] {
  const bits = external.family === 4 ? 32 : 128;
  const span = 1n << BigInt(bits);
  const delta = (((internal.first - external.first) % span) + span) % span;
  const maxK = trailingZeros(delta, bits);
  const blocks: Block[] = [];
  let x = external.first;
  while (x <= external.last) {
    let k = Math.min(maxK, trailingZeros(x, bits));
    while (x + (1n << BigInt(k)) - 1n > external.last) k--;
    blocks.push({ family: external.family, from: x, to: (x + delta) % span, length: bits - k });
    if (blocks.length > MAX_BLOCKS)
      throw new MappingTooFragmented(
        `${formatSpan(external)} -> ${formatSpan(internal)} needs more than ${MAX_BLOCKS} nftables map elements (the two ranges are aligned only to ${2n ** BigInt(maxK)} addresses): start both on the same boundary`,
      );
    x += 1n << BigInt(k);
  }
  return blocks;
}

const formatSpan = (s: Span) => `${format(s.family, s.first)}-${format(s.family, s.last)}`;
const cidr = (family: Family, v: bigint, len: number) => `${format(family, v)}/${len}`;
const ipKw = (f: Family) => (f === 4 ? "ip" : "ip6");
const quoteSet = (names: readonly string[]) =>
  names.length === 1 ? `"${names[0]}"` : `{ ${names.map((n) => `"${n}"`).join(", ")} }`;
const rangeText = (r: Span) =>
  r.first === r.last ? format(r.family, r.first) : `${format(r.family, r.first)}-${format(r.family, r.last)}`;

/** `dnat ip prefix to ip daddr map { ... }` (or snat/saddr) for a list of mappings. */
function netmap(kind: "dnat" | "snat", family: Family, blocks: readonly Block[]): string {
  const field = kind === "dnat" ? "daddr" : "saddr";
  const elements = blocks
    .map((b) => `${cidr(family, b.from, b.length)} : ${cidr(family, b.to, b.length)}`)
    .join(", ");
  return `${kind} ${ipKw(family)} prefix to ${ipKw(family)} ${field} map { ${elements} }`;
}

/**
 * Source translation to a pool. One range: `snat ip to a-b`; several: a hash of the source picks
 * the range (`jhash ... mod n map`), so that one inside host keeps one range.
 */
function snatToPool(family: Family, pool: readonly Range[]): string {
  const ip = ipKw(family);
  if (pool.length === 1) return `snat ${ip} to ${rangeText(pool[0]!)}`;
  const elements = pool.map((r, i) => `${i} : ${rangeText(r)}`).join(", ");
  return `snat ${ip} to jhash ${ip} saddr mod ${pool.length} map { ${elements} }`;
}

export interface Ruleset {
  family: "inet";
  table: string;
  /** what `nft -f` loads: create empty, delete, add whole (one transaction) */
  text: string;
  /** the table alone, as `nft list table` prints it (for docs and logs) */
  body: string;
}

/** The nftables table for an EdgeTranslation. Throws MappingTooFragmented for a misaligned map. */
export function edgeRuleset(a: EdgeAssignment): Ruleset {
  const s = a.spec;
  const out = `"${s.outsideInterface}"`;
  // spec.log: the first packet of each translated connection to the kernel log (FortiOS logtraffic)
  const counter = s.log ? `log prefix "${tableName(a)} " counter` : "counter";
  const inside = quoteSet(s.insideInterfaces);
  const pre: string[] = [];
  const post: string[] = [];
  const fwd: string[] = [];

  // Inbound static mappings, RFC 2663 §4.1.1 (static address assignment): each external address
  // to the internal address at the same offset.
  const blocks = (maps: readonly { external: Range; internal: Range }[]) =>
    maps.flatMap((m) => offsetBlocks(m.external, m.internal));
  if (s.dnat44.length) pre.push(`iifname ${out} ${counter} ${netmap("dnat", 4, blocks(s.dnat44))}`);
  if (s.dnat66.length) pre.push(`iifname ${out} ${counter} ${netmap("dnat", 6, blocks(s.dnat66))}`);
  const npt = s.snat66?.mode === "nptv6" ? s.snat66.nptv6 : undefined;
  if (npt) pre.push(`iifname ${out} ${counter} ${netmap("dnat", 6, [prefixBlock(npt.outside, npt.inside)])}`);

  // Senders of inbound DNAT66 traffic, so that replies return through this box even where the
  // LAN's default router is another one (the seed's FortiGate: policy6 wan1 -> lan1 with ippool6).
  if (s.inboundSnat66) {
    const internal = s.dnat66.map((m) => rangeText(m.internal));
    post.push(
      `iifname ${out} oifname ${inside} ct status dnat ip6 daddr { ${internal.join(", ")} } ${counter} ${snatToPool(6, s.inboundSnat66.pool)}`,
    );
  }
  if (s.snat44) {
    // overload: NAPT (RFC 2663 §4.1.2); oneToOne: Basic NAT (§4.1.1), approximated by `persistent`
    // (one inside host keeps one pool address; see docs/edge.md for where it differs).
    const action =
      s.snat44.pool.length === 0
        ? "masquerade"
        : `${snatToPool(4, s.snat44.pool)}${s.snat44.mode === "oneToOne" ? " persistent" : ""}`;
    post.push(`iifname ${inside} oifname ${out} meta nfproto ipv4 ${counter} ${action}`);
  }
  if (s.snat66) {
    const action =
      s.snat66.mode === "interface"
        ? "masquerade"
        : s.snat66.mode === "pool"
          ? snatToPool(6, s.snat66.pool)
          : netmap("snat", 6, [prefixBlock(npt!.inside, npt!.outside)]);
    post.push(`iifname ${inside} oifname ${out} meta nfproto ipv6 ${counter} ${action}`);
  }

  // The policies: inside -> outside is forwarded; outside -> inside only as replies or to an
  // address this resource translates (FortiOS: a wan -> lan policy whose dstaddr is the VIP).
  fwd.push(`iifname ${out} oifname ${inside} ct state established,related accept`);
  fwd.push(`iifname ${out} oifname ${inside} ct status dnat accept`);
  fwd.push(`iifname ${out} oifname ${inside} counter drop`);

  const table = tableName(a);
  const chain = (name: string, type: string, hook: string, priority: string, rules: string[]) =>
    rules.length === 0
      ? []
      : [
          `\tchain ${name} {`,
          `\t\ttype ${type} hook ${hook} priority ${priority}; policy accept;`,
          ...rules.map((r) => `\t\t${r}`),
          "\t}",
        ];
  const body = [
    `table inet ${table} {`,
    ...chain("prerouting", "nat", "prerouting", "dstnat", pre),
    ...chain("postrouting", "nat", "postrouting", "srcnat", post),
    ...chain("forward", "filter", "forward", "filter", fwd),
    "}",
  ].join("\n");
  const text = `table inet ${table} {}\ndelete table inet ${table}\n${body}\n`;
  return { family: "inet", table, text, body: `${body}\n` };
}
