// The seed's client-type matrix (shared/seed/README.md, "Client types and what they reach") as
// expected values, the classification of what a probe saw into a path, and the comparison. Pure:
// no I/O here.
import { CLAT, CLIENTS, type ClientKind, inPool4, PREF64 } from "./addressing.ts";

export type Column = "v6-fqdn" | "v6-literal" | "v4-fqdn" | "v4-literal";
export const COLUMNS: readonly Column[] = ["v6-fqdn", "v6-literal", "v4-fqdn", "v4-literal"];
export const COLUMN_TITLES: Record<Column, string> = {
  "v6-fqdn": "IPv6 FQDN",
  "v6-literal": "IPv6 literal",
  "v4-fqdn": "IPv4 FQDN",
  "v4-literal": "IPv4 literal",
};

export type Dns64State = "on" | "off";

/**
 * How a connection went:
 * - `ipv6`: routed IPv6, the server saw the client's own IPv6 address (seed: "via FortiGate")
 * - `ipv4`: routed IPv4, the server saw the client's DHCP lease (seed: "via FortiGate")
 * - `nat64`: the client's IPv6 to a PREF64 address, translated by the router (seed: "via ISR NAT64")
 * - `clat+nat64`: the client's IPv4 through its CLAT, then the router's NAT64 (464XLAT, RFC 6877)
 * - `x`: no connectivity
 */
export type Path = "ipv6" | "ipv4" | "nat64" | "clat+nat64" | "x";

export interface Expected {
  path: Path;
  /** the seed's words for this cell, or why the lab derives it where the seed says n/a */
  seed: string;
  /** true where the seed has the cell; false where the lab derives it (seed: n/a) */
  fromSeed: boolean;
}

const e = (path: Path, seed: string, fromSeed = true): Expected => ({ path, seed, fromSeed });

/**
 * The expected matrix. Where the seed says "(n/a)" (dual-stack with DNS64 on, IPv6-only without
 * CLAT with DNS64 off) the lab still checks the cell, with a value derived from the RFCs and the
 * probe's rule for names (an AAAA first when the client has IPv6, see probe.ts).
 */
export const EXPECTED: Record<ClientKind, Record<Dns64State, Record<Column, Expected>>> = {
  "ipv4-only": {
    on: {
      "v6-fqdn": e("x", "v6 x"),
      "v6-literal": e("x", "v6 x"),
      "v4-fqdn": e("ipv4", "v4 via FortiGate"),
      "v4-literal": e("ipv4", "v4 via FortiGate"),
    },
    off: {
      "v6-fqdn": e("x", "same: v6 x"),
      "v6-literal": e("x", "same: v6 x"),
      "v4-fqdn": e("ipv4", "same: v4 via FortiGate"),
      "v4-literal": e("ipv4", "same: v4 via FortiGate"),
    },
  },
  "dual-stack": {
    on: {
      "v6-fqdn": e("ipv6", "n/a in the seed; a real AAAA is never replaced (RFC 6147 §5.1.1)", false),
      "v6-literal": e("ipv6", "n/a in the seed; DNS plays no part", false),
      "v4-fqdn": e(
        "nat64",
        "n/a in the seed; a synthesized AAAA (RFC 6147 §5.1.7) is used before the A, like any AAAA",
        false,
      ),
      "v4-literal": e("ipv4", "n/a in the seed; DNS plays no part", false),
    },
    off: {
      "v6-fqdn": e("ipv6", "v6 via FortiGate"),
      "v6-literal": e("ipv6", "v6 via FortiGate"),
      "v4-fqdn": e("ipv4", "v4 via FortiGate"),
      "v4-literal": e("ipv4", "v4 via FortiGate"),
    },
  },
  "ipv6-only": {
    on: {
      "v6-fqdn": e("ipv6", "v6 via FortiGate"),
      "v6-literal": e("ipv6", "v6 via FortiGate"),
      "v4-fqdn": e("nat64", "v4 FQDN via ISR NAT64"),
      "v4-literal": e("x", "v4 literal x"),
    },
    off: {
      "v6-fqdn": e("ipv6", "n/a in the seed; IPv6 needs no DNS64", false),
      "v6-literal": e("ipv6", "n/a in the seed; DNS plays no part", false),
      "v4-fqdn": e("x", "n/a in the seed; no AAAA and no IPv4", false),
      "v4-literal": e("x", "n/a in the seed; no IPv4", false),
    },
  },
  "ipv6-only+clat": {
    on: {
      "v6-fqdn": e("ipv6", "v6 via FortiGate"),
      "v6-literal": e("ipv6", "v6 via FortiGate"),
      "v4-fqdn": e("nat64", "v4 FQDN via ISR (the synthesized AAAA, no CLAT needed)"),
      "v4-literal": e("clat+nat64", "v4 literal via ISR (CLAT)"),
    },
    off: {
      "v6-fqdn": e("ipv6", "same: v6 via FortiGate"),
      "v6-literal": e("ipv6", "same: v6 via FortiGate"),
      "v4-fqdn": e("clat+nat64", "same: v4 FQDN via ISR (the A record, through the CLAT)"),
      "v4-literal": e("clat+nat64", "same: v4 literal via ISR (CLAT)"),
    },
  },
};

/** What the probe inside a client namespace reports for one cell (see probe.ts). */
export interface ProbeResult {
  column: Column;
  /** the address the client connected to, when it got that far */
  destination?: string;
  /** the source address the server saw (its HTTP answer says so) */
  seenFrom?: string;
  /** the client's own source address for the connection */
  localAddress?: string;
  /** the client's source port: the session in the NAT64 table has it as its IPv6 port (a CLAT keeps ports) */
  localPort?: number;
  error?: string;
  /** DNS answers used for the FQDN columns */
  dns?: { aaaa: string[]; a: string[]; error?: string };
}

/** A NAT64 session row, as published in /translations (the subset the lab reads). */
export interface SessionEvidence {
  proto: string;
  ipv6: string;
  port6: number;
  ipv4: string;
  remote4: string;
  remote6: string;
}

export interface Observed {
  path: Path;
  /** how the path was told: the server's view, the translation table */
  evidence: string;
  /** a reason the cell could not be measured at all (a piece that does not run) */
  unavailable?: string;
}

/**
 * The path one probe took. `clientIpv6` are the client's own (SLAAC) addresses, `clientIpv4` its
 * lease. `sessions` is the NAT64 table after the probe, or undefined when it is not published.
 */
export function classify(
  r: ProbeResult,
  clientIpv6: string[],
  clientIpv4: string[],
  sessions: SessionEvidence[] | undefined,
): Observed {
  if (!r.seenFrom) return { path: "x", evidence: r.error ?? "no answer" };
  const from = r.seenFrom.replace(/^::ffff:/, "");
  if (clientIpv6.includes(from)) return { path: "ipv6", evidence: `server saw ${from}` };
  if (clientIpv4.includes(from)) return { path: "ipv4", evidence: `server saw ${from}` };
  if (inPool4(from)) {
    // Through the NAT64: was it the client's own IPv6 (to a PREF64 address) or its CLAT's?
    const viaClat = r.destination !== undefined && !r.destination.includes(":");
    const src6 = viaClat ? CLAT.hostIpv6 : r.localAddress;
    const path: Path = viaClat ? "clat+nat64" : "nat64";
    if (!sessions) {
      return {
        path,
        evidence: `server saw pool4 ${from}; no translation table to confirm it`,
        unavailable: "the NAT64 service publishes no /translations",
      };
    }
    const s = sessions.find(
      (x) =>
        x.ipv4 === from &&
        x.ipv6 === src6 &&
        x.remote4 === destination4(r) &&
        (r.localPort === undefined || x.port6 === r.localPort),
    );
    if (!s) {
      return {
        path,
        evidence: `server saw pool4 ${from}, but no session [${src6}]:${r.localPort ?? "?"} -> ${destination4(r)} in the translation table`,
        unavailable: "the translation table does not show this connection",
      };
    }
    return { path, evidence: `session ${s.proto} [${s.ipv6}]:${s.port6} -> ${s.ipv4} -> ${s.remote4}` };
  }
  return { path: "x", evidence: `server saw an unexpected source ${from}` };
}

/** the IPv4 server a probe reached: its literal, or the one embedded in a PREF64 address */
function destination4(r: ProbeResult): string | undefined {
  const d = r.destination;
  if (!d) return undefined;
  if (!d.includes(":")) return d;
  return extract96(d);
}

/** RFC 6052 §2.2, /96 only (the lab's PREF64): the IPv4 address in the last 32 bits. */
export function extract96(v6: string): string | undefined {
  const m = /:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(v6);
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  if (dotted) return dotted[1];
  if (!m) return undefined;
  const hi = Number.parseInt(m[1]!, 16);
  const lo = Number.parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

export interface Cell {
  client: ClientKind;
  dns64: Dns64State;
  column: Column;
  expected: Expected;
  observed: Observed;
  ok: boolean;
}

export function compare(client: ClientKind, dns64: Dns64State, column: Column, observed: Observed): Cell {
  const expected = EXPECTED[client][dns64][column];
  const ok = observed.unavailable === undefined && observed.path === expected.path;
  return { client, dns64, column, expected, observed, ok };
}

/** A check outside the matrix (RFC 8925 behaviour, the lab's own preconditions). */
export interface Finding {
  name: string;
  ok: boolean;
  detail: string;
}

const SHORT: Record<Path, string> = {
  ipv6: "v6",
  ipv4: "v4",
  nat64: "NAT64",
  "clat+nat64": "CLAT+NAT64",
  x: "x",
};

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** The matrix as text: one table per DNS64 state, "observed" or "observed≠expected" per cell. */
export function renderMatrix(cells: Cell[], findings: Finding[]): string {
  const lines: string[] = [];
  const clientW = Math.max(...CLIENTS.map((c) => c.label.length)) + 2;
  for (const dns64 of ["on", "off"] as const) {
    lines.push(`DNS64 ${dns64}`);
    lines.push((pad("client", clientW) + COLUMNS.map((c) => pad(COLUMN_TITLES[c], 24)).join("")).trimEnd());
    for (const c of CLIENTS) {
      let row = pad(c.label, clientW);
      for (const col of COLUMNS) {
        const cell = cells.find((x) => x.client === c.kind && x.dns64 === dns64 && x.column === col);
        let text: string;
        if (!cell) text = "not run";
        else if (cell.observed.unavailable) text = `n/a! ${SHORT[cell.observed.path]}`;
        else if (cell.ok) text = `${SHORT[cell.observed.path]}${cell.expected.fromSeed ? "" : " *"}`;
        else text = `${SHORT[cell.observed.path]} ≠ ${SHORT[cell.expected.path]} !`;
        row += pad(text, 24);
      }
      lines.push(row.trimEnd());
    }
    lines.push("");
  }
  lines.push("* not in the seed's matrix (n/a there): the lab's derived expectation");
  lines.push(`NAT64 = through the router's NAT64 (${PREF64}); CLAT+NAT64 = 464XLAT; x = no connectivity`);
  lines.push("");
  for (const f of findings) lines.push(`${f.ok ? "ok  " : "FAIL"} ${f.name}: ${f.detail}`);
  const bad = cells.filter((c) => !c.ok);
  if (bad.length) {
    lines.push("");
    lines.push("Differences from the expected matrix:");
    for (const c of bad) {
      lines.push(
        `  ${c.client}, DNS64 ${c.dns64}, ${COLUMN_TITLES[c.column]}: expected ${c.expected.path} (${c.expected.seed}), got ${c.observed.path}${c.observed.unavailable ? ` (not available: ${c.observed.unavailable})` : ""}; ${c.observed.evidence}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
