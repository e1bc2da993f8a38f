// A DNS lab on loopback for the DNS64 tests and the benchmark: an authoritative BIND serving the
// zones below, BIND with `dns64` and Unbound with `module-config: "dns64 iterator"` forwarding to it.
// Every daemon is a child of this process, runs in the foreground, and is ended by its PID.
// Addresses: 127.0.0.0/8 with ports picked from this process's PID so parallel runs do not collide.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import dnsPacket from "dns-packet";

export const ZONE = "v6m.example";
export const SIGNED = "signed.example";
export const REVERSE = "2.0.192.in-addr.arpa";
export const BROKEN = "broken.example";

/** What the zones hold; the tests derive their expectations from this, not from constants. */
export const names = {
  aOnly: `a-only.${ZONE}`, // A 192.0.2.1
  dual: `dual.${ZONE}`, // A 192.0.2.2, AAAA 2001:db8::2
  mapped: `mapped.${ZONE}`, // A 192.0.2.3, AAAA ::ffff:192.0.2.3 (excluded by default)
  mixed: `mixed.${ZONE}`, // A 192.0.2.4, AAAA ::ffff:192.0.2.4 and 2001:db8::4
  cname: `cname.${ZONE}`, // CNAME a-only
  cname2: `cname2.${ZONE}`, // CNAME cname -> a-only
  cnameDual: `cname-dual.${ZONE}`, // CNAME dual
  cnameNx: `cname-nx.${ZONE}`, // CNAME nothere (NXDOMAIN at the end)
  nodata: `nodata.${ZONE}`, // TXT only
  nx: `nothere.${ZONE}`, // NXDOMAIN
  many: `many.${ZONE}`, // 24 A records 198.51.100.1 .. 24
  big: `big.${ZONE}`, // 90 A records: too large for 1232 bytes as AAAA; needs TCP
  signedA: `www.${SIGNED}`, // A 203.0.113.1 in a DNSSEC-signed zone
  signedDual: `dual.${SIGNED}`, // A 203.0.113.2 AAAA 2001:db8::202
  broken: `www.${BROKEN}`, // in a zone that fails to load: the authoritative answers SERVFAIL
  mappedOnly: `mapped-only.${ZONE}`, // AAAA ::ffff:192.0.2.5 only (excluded by default), no A
  excludedOnly: `excluded-only.${ZONE}`, // AAAA 2001:db8:dead::5 only (in EXCLUDED), no A
  fits: `a-name-long-enough-to-matter-when-repeated.${ZONE}`, // FITS A records: fits 1232 compressed
};

export const FITS = 36;
/** A configured exclusion (RFC 6147 §5.1.4) besides ::ffff:0:0/96, for BIND and v6mostly */
export const EXCLUDED = "2001:db8:dead::/48";

export const MANY = 24;
export const BIG = 90; // BIND 9.18 caps an RRset at 100 records

/** Bench names: h0..h{n-1} with one A record each, and a wildcard so that every label is new. */
export const BENCH_WILDCARD = `wild.${ZONE}`;

function zoneText(benchNames = 0): string {
  const lines = [
    "$TTL 300",
    `@ IN SOA ns.${ZONE}. hostmaster.${ZONE}. 1 3600 600 86400 120`,
    `@ IN NS ns.${ZONE}.`,
    "ns IN A 127.0.0.1",
    "a-only 300 IN A 192.0.2.1",
    "dual IN A 192.0.2.2",
    "dual IN AAAA 2001:db8::2",
    "mapped IN A 192.0.2.3",
    "mapped IN AAAA ::ffff:192.0.2.3",
    "mixed IN A 192.0.2.4",
    "mixed IN AAAA ::ffff:192.0.2.4",
    "mixed IN AAAA 2001:db8::4",
    "cname 200 IN CNAME a-only",
    "cname2 IN CNAME cname",
    "cname-dual IN CNAME dual",
    "cname-nx IN CNAME nothere",
    'nodata IN TXT "no addresses here"',
    "mapped-only IN AAAA ::ffff:192.0.2.5",
    "excluded-only IN AAAA 2001:db8:dead::5",
  ];
  for (let i = 1; i <= FITS; i++) lines.push(`${names.fits.split(".")[0]} IN A 198.51.100.${100 + i}`);
  for (let i = 1; i <= MANY; i++) lines.push(`many IN A 198.51.100.${i}`);
  for (let i = 1; i <= BIG; i++) lines.push(`big IN A 198.18.${Math.floor(i / 200)}.${i % 200}`);
  for (let i = 0; i < benchNames; i++) lines.push(`h${i} IN A 198.19.${i >> 8}.${i & 0xff}`);
  if (benchNames > 0) lines.push("*.wild IN A 192.0.2.9");
  return `${lines.join("\n")}\n`;
}

function reverseText(): string {
  return [
    "$TTL 300",
    `@ IN SOA ns.${ZONE}. hostmaster.${ZONE}. 1 3600 600 86400 60`,
    `@ IN NS ns.${ZONE}.`,
    `1 IN PTR a-only.${ZONE}.`,
    `2 IN PTR dual.${ZONE}.`,
    "",
  ].join("\n");
}

function signedText(): string {
  return [
    "$TTL 300",
    `@ IN SOA ns.${ZONE}. hostmaster.${ZONE}. 1 3600 600 86400 120`,
    `@ IN NS ns.${ZONE}.`,
    "www IN A 203.0.113.1",
    "dual IN A 203.0.113.2",
    "dual IN AAAA 2001:db8::202",
    "",
  ].join("\n");
}

export interface Daemon {
  name: string;
  proc: ChildProcess;
  host: string;
  port: number;
  log: () => string;
}

export interface Lab {
  dir: string;
  auth: Daemon;
  bind64: Daemon | undefined;
  unbound64: Daemon | undefined;
  /** DNSKEY of the signed zone as a trust anchor line ("signed.example. 257 3 13 ...") */
  trustAnchor: string | undefined;
  stop(): Promise<void>;
}

export function missingTools(): string | undefined {
  for (const bin of [
    "/usr/sbin/named",
    "/usr/sbin/unbound",
    "/usr/bin/dnssec-keygen",
    "/usr/bin/dnssec-signzone",
  ]) {
    if (!existsSync(bin)) return `${bin} is not installed`;
  }
  return undefined;
}

/**
 * Ports for this run: a block of 20 derived from the PID, below Linux's ephemeral range (32768 and
 * up by default), where another process's outgoing connection could hold one (EADDRINUSE, seen).
 */
export function portBase(): number {
  return 20000 + ((process.pid * 20) % 12000);
}

async function waitForAnswer(host: string, port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket("udp4");
      const t = setTimeout(() => {
        s.close();
        resolve(false);
      }, 300);
      s.on("error", () => {
        clearTimeout(t);
        s.close();
        resolve(false);
      });
      s.on("message", () => {
        clearTimeout(t);
        s.close();
        resolve(true);
      });
      const q = dnsPacket.encode({ type: "query", id: 7, questions: [{ type: "SOA", name: ZONE }] });
      s.send(q, port, host);
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function startDaemon(
  name: string,
  cmd: string,
  args: string[],
  host: string,
  port: number,
  dir: string,
): Daemon {
  let out = "";
  const proc = spawn(cmd, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout?.on("data", (d: Buffer) => {
    out = (out + d.toString()).slice(-20000);
  });
  proc.stderr?.on("data", (d: Buffer) => {
    out = (out + d.toString()).slice(-20000);
  });
  return { name, proc, host, port, log: () => out };
}

async function stopDaemon(d: Daemon | undefined): Promise<void> {
  if (!d || d.proc.exitCode !== null || d.proc.pid === undefined) return;
  const exited = new Promise<void>((r) => d.proc.once("exit", () => r()));
  d.proc.kill("SIGTERM");
  const t = setTimeout(() => d.proc.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(t);
}

export interface LabOptions {
  prefix: string;
  /** start BIND dns64 and Unbound dns64 too (default true) */
  peers?: boolean;
  /** Unbound threads (bench) */
  unboundThreads?: number;
  /** start BIND dns64 (default: when peers) */
  bind?: boolean;
  /** synthesize even when AAAA exist: BIND `exclude { ::/0; }`, Unbound `dns64-synthall: yes` */
  synthAll?: boolean;
  /** bench: how many h<i> names to add (and the wildcard) */
  benchNames?: number;
  /** BIND dns64 and Unbound forward to this 127.0.0.1 port instead of the authoritative BIND */
  forwardPort?: number;
}

/**
 * Writes the zones and configs into a temp folder and starts the daemons. Throws with the daemon's
 * log when one does not come up.
 */
export async function startLab(opts: LabOptions): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), "v6m-dns64-"));
  const base = portBase();
  const auth = { host: "127.0.0.1", port: base };
  const b64 = { host: "127.0.0.1", port: base + 1 };
  const u64 = { host: "127.0.0.1", port: base + 2 };
  const fwd = { host: auth.host, port: opts.forwardPort ?? auth.port };
  writeFileSync(join(dir, "zone.db"), zoneText(opts.benchNames));
  writeFileSync(join(dir, "reverse.db"), reverseText());
  writeFileSync(join(dir, "signed.db"), signedText());
  writeFileSync(join(dir, "broken.db"), "$TTL 300\n@ IN SOA this is not a zone\n");

  // DNSSEC: a KSK and a ZSK (ECDSA P-256, algorithm 13), zone signed with NSEC.
  const keygen = (extra: string[]) =>
    execFileSync("dnssec-keygen", ["-K", dir, "-a", "ECDSAP256SHA256", ...extra, SIGNED], {
      encoding: "utf8",
    }).trim();
  const ksk = keygen(["-f", "KSK"]);
  keygen([]);
  execFileSync(
    "dnssec-signzone",
    [
      "-K",
      dir,
      "-o",
      SIGNED,
      "-S",
      "-N",
      "keep",
      "-e",
      "+2592000",
      "-f",
      join(dir, "signed.db.signed"),
      join(dir, "signed.db"),
    ],
    { cwd: dir, encoding: "utf8" },
  );
  const kskKey = readFileSync(join(dir, `${ksk}.key`), "utf8")
    .split("\n")
    .find((l) => /\sDNSKEY\s/.test(l) && !l.startsWith(";"));
  const trustAnchor = kskKey?.replace(/\s+IN\s+DNSKEY\s+/, " DNSKEY ").replace(/\s+/g, " ");

  const authConf = `
options {
  directory "${dir}";
  pid-file "${dir}/auth.pid";
  listen-on port ${auth.port} { ${auth.host}; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
  minimal-responses no;
  rate-limit { responses-per-second 0; };
};
controls { };
zone "${ZONE}" { type primary; file "${dir}/zone.db"; };
zone "${REVERSE}" { type primary; file "${dir}/reverse.db"; };
zone "${SIGNED}" { type primary; file "${dir}/signed.db.signed"; };
zone "${BROKEN}" { type primary; file "${dir}/broken.db"; };
`;
  writeFileSync(join(dir, "auth.conf"), authConf);
  const started: Daemon[] = [];
  const lab: Lab = {
    dir,
    auth: startDaemon(
      "bind-auth",
      "named",
      ["-g", "-n", "1", "-c", join(dir, "auth.conf")],
      auth.host,
      auth.port,
      dir,
    ),
    bind64: undefined,
    unbound64: undefined,
    trustAnchor,
    async stop() {
      await Promise.all([stopDaemon(lab.auth), stopDaemon(lab.bind64), stopDaemon(lab.unbound64)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  started.push(lab.auth);
  try {
    if (!(await waitForAnswer(auth.host, auth.port, 8000)))
      throw new Error(`authoritative BIND did not start:\n${lab.auth.log()}`);
    if (opts.peers !== false) {
      const anchorKey = trustAnchor?.split(" ").slice(2).join(" ") ?? "";
      const [flags, proto, alg, ...key] = anchorKey.split(" ");
      // BIND 9.18 with dns64. Forward-only to the authoritative, like v6mostly. The built-in empty
      // zones (RFC 6303, which include 2.0.192.in-addr.arpa) are off so the lab's reverse zone is
      // reached.
      const bindConf = `
options {
  directory "${dir}";
  pid-file "${dir}/bind64.pid";
  listen-on port ${b64.port} { ${b64.host}; };
  listen-on-v6 { none; };
  recursion yes;
  allow-query { any; };
  allow-recursion { 127.0.0.0/8; };
  forwarders { ${fwd.host} port ${fwd.port}; };
  forward only;
  dnssec-validation yes;
  empty-zones-enable no;
  qname-minimization off;
  minimal-responses no;
  dns64 ${opts.prefix} { clients { any; }; exclude { ${opts.synthAll ? "::/0;" : `::ffff:0:0/96; ${EXCLUDED};`} }; };
};
controls { };
trust-anchors { ${SIGNED}. static-key ${flags} ${proto} ${alg} "${key.join("")}"; };
`;
      writeFileSync(join(dir, "bind64.conf"), bindConf);
      if (opts.bind !== false) {
        const args = ["-g", "-n", "1", "-c", join(dir, "bind64.conf")];
        lab.bind64 = startDaemon("bind-dns64", "named", args, b64.host, b64.port, dir);
      }
      writeFileSync(join(dir, "anchor.key"), `${trustAnchor}\n`);
      const unboundConf = `
server:
  verbosity: 1
  use-syslog: no
  logfile: ""
  chroot: ""
  username: ""
  directory: "${dir}"
  pidfile: "${dir}/unbound.pid"
  interface: ${u64.host}@${u64.port}
  port: ${u64.port}
  do-ip6: no
  num-threads: ${opts.unboundThreads ?? 1}
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "dns64 validator iterator"
  dns64-prefix: ${opts.prefix}
  dns64-synthall: ${opts.synthAll ? "yes" : "no"}
  trust-anchor-file: "${dir}/anchor.key"
  qname-minimisation: no
  minimal-responses: no
  local-zone: "${REVERSE}." nodefault
  local-zone: "example." nodefault
  # Unbound's built-in RFC 6303 zone for 2001:db8::/32 would answer the PTR tests itself
  local-zone: "8.b.d.0.1.0.0.2.ip6.arpa." nodefault
  ratelimit: 0
  ip-ratelimit: 0
forward-zone:
  name: "."
  forward-addr: ${fwd.host}@${fwd.port}
`;
      writeFileSync(join(dir, "unbound.conf"), unboundConf);
      lab.unbound64 = startDaemon(
        "unbound-dns64",
        "unbound",
        ["-d", "-c", join(dir, "unbound.conf")],
        u64.host,
        u64.port,
        dir,
      );
      const [bOk, uOk] = await Promise.all([
        lab.bind64 ? waitForAnswer(b64.host, b64.port, 8000) : true,
        waitForAnswer(u64.host, u64.port, 8000),
      ]);
      if (!bOk) throw new Error(`BIND dns64 did not start:\n${lab.bind64?.log()}`);
      if (!uOk) throw new Error(`Unbound dns64 did not start:\n${lab.unbound64.log()}`);
    }
  } catch (e) {
    await lab.stop();
    throw e;
  }
  return lab;
}
