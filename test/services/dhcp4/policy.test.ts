import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { LeaseTable } from "../../../src/services/dhcp4/leases.ts";
import { type Decision, decide } from "../../../src/services/dhcp4/policy.ts";
import type { Scope } from "../../../src/services/dhcp4/scope.ts";
import {
  DHCPACK,
  DHCPDECLINE,
  DHCPDISCOVER,
  DHCPINFORM,
  DHCPNAK,
  DHCPOFFER,
  DHCPRELEASE,
  DHCPREQUEST,
  decode,
  formatAddr,
  OPT,
  parseAddr,
} from "../../../src/services/dhcp4/wire.ts";
import { build, type ClientMsg, mac, msg, scopeOf } from "./helpers.ts";

const NOW = 1_800_000_000;

/** Applies a decision to the table the way the server does. */
function run(scope: Scope, table: LeaseTable, c: ClientMsg, now = NOW): Decision {
  const d = decide(scope, table, msg(c), now);
  if (d.clearOffer) table.clearOffer(d.clearOffer);
  if (d.offer) table.setOffer(d.offer.client, d.offer.address, d.offer.until);
  if (d.lease) table.put(d.lease);
  return d;
}

function opt(d: Decision, code: number): Uint8Array | undefined {
  return d.reply?.options.find(([c]) => c === code)?.[1];
}

function dora(scope: Scope, table: LeaseTable, m: Uint8Array, prl = [1, 3, 6]): string {
  const offer = run(scope, table, { type: DHCPDISCOVER, mac: m, prl });
  assert.equal(offer.reply?.type, DHCPOFFER);
  const yi = formatAddr(offer.reply!.fields.yiaddr);
  const ack = run(scope, table, { type: DHCPREQUEST, mac: m, requested: yi, serverId: "192.0.2.1", prl });
  assert.equal(ack.reply?.type, DHCPACK);
  assert.equal(ack.lease?.state, "bound");
  return yi;
}

test("SELECTING: DISCOVER → OFFER, REQUEST → ACK with options 1, 3, 6, 15, 51, 54, 58, 59 and raw ones", () => {
  const scope = scopeOf({
    router: "192.0.2.1",
    dnsServers: ["192.0.2.53", "192.0.2.54"],
    domainName: "home.example",
    leaseTime: "1h",
    options: [{ code: 43, hex: "0104c0000201" }],
  });
  const table = new LeaseTable(scope);
  const offer = run(scope, table, { type: DHCPDISCOVER, mac: mac(1), prl: [1, 3, 6, 15] });
  assert.equal(offer.reply?.type, DHCPOFFER);
  assert.equal(formatAddr(offer.reply!.fields.yiaddr), "192.0.2.100");
  const ack = run(scope, table, {
    type: DHCPREQUEST,
    mac: mac(1),
    requested: "192.0.2.100",
    serverId: "192.0.2.1",
  });
  assert.equal(ack.reply?.type, DHCPACK);
  assert.deepEqual([...opt(ack, OPT.subnetMask)!], [255, 255, 255, 0]);
  assert.deepEqual([...opt(ack, OPT.router)!], [192, 0, 2, 1]);
  assert.deepEqual([...opt(ack, OPT.dnsServers)!], [192, 0, 2, 53, 192, 0, 2, 54]);
  assert.equal(Buffer.from(opt(ack, OPT.domainName)!).toString(), "home.example");
  assert.equal(Buffer.from(opt(ack, OPT.leaseTime)!).readUInt32BE(), 3600);
  assert.equal(Buffer.from(opt(ack, OPT.renewalTime)!).readUInt32BE(), 1800);
  assert.equal(Buffer.from(opt(ack, OPT.rebindingTime)!).readUInt32BE(), 3150);
  assert.deepEqual([...opt(ack, OPT.serverId)!], [192, 0, 2, 1]);
  assert.deepEqual([...opt(ack, 43)!], [1, 4, 192, 0, 2, 1]);
  assert.equal(opt(ack, OPT.v6OnlyPreferred), undefined);
  // §4.1: no broadcast bit, no ciaddr: unicast to chaddr/yiaddr
  assert.equal(ack.reply!.to.kind, "link");
  // a second client gets another address
  assert.notEqual(dora(scope, table, mac(2)), "192.0.2.100");
});

test("RFC 8925: option 108 = V6ONLY_WAIT only when asked for and configured; the OFFER keeps a real address", () => {
  const scope = scopeOf({ ipv6OnlyPreferred: "30m" });
  const table = new LeaseTable(scope);
  const asked = run(scope, table, { type: DHCPDISCOVER, mac: mac(1), prl: [1, 3, 108] });
  assert.equal(Buffer.from(opt(asked, OPT.v6OnlyPreferred)!).readUInt32BE(), 1800);
  assert.equal(asked.v6only, true);
  assert.notEqual(asked.reply!.fields.yiaddr, 0);
  // the offer is held in memory only: no lease record
  assert.equal(asked.lease, undefined);
  const notAsked = run(scope, table, { type: DHCPDISCOVER, mac: mac(2), prl: [1, 3, 6] });
  assert.equal(opt(notAsked, OPT.v6OnlyPreferred), undefined);
  const unconfigured = scopeOf({});
  const d = decide(
    unconfigured,
    new LeaseTable(unconfigured),
    msg({ type: DHCPDISCOVER, mac: mac(3), prl: [108] }),
    NOW,
  );
  assert.equal(opt(d, OPT.v6OnlyPreferred), undefined);
  // an ACK to a client that asks carries it too
  const ack = run(scope, table, {
    type: DHCPREQUEST,
    mac: mac(1),
    requested: formatAddr(asked.reply!.fields.yiaddr),
    serverId: "192.0.2.1",
    prl: [108],
  });
  assert.equal(Buffer.from(opt(ack, OPT.v6OnlyPreferred)!).readUInt32BE(), 1800);
});

test("the broadcast bit, a relay and ciaddr choose the destination (§4.1)", () => {
  const scope = scopeOf();
  const table = new LeaseTable(scope);
  assert.equal(
    run(scope, table, { type: DHCPDISCOVER, mac: mac(1), flags: 0x8000 }).reply!.to.kind,
    "broadcast",
  );
  const relayed = run(scope, table, { type: DHCPDISCOVER, mac: mac(2), giaddr: "192.0.2.2" });
  assert.deepEqual(relayed.reply!.to, { kind: "relay", address: parseAddr("192.0.2.2") });
  assert.equal(relayed.reply!.fields.giaddr, parseAddr("192.0.2.2"));
  // a relay outside the subnet is not ours
  assert.ok(run(scope, table, { type: DHCPDISCOVER, mac: mac(3), giaddr: "198.51.100.1" }).drop);
});

test("RENEWING keeps the address and extends the lease; REBINDING too", () => {
  const scope = scopeOf();
  const table = new LeaseTable(scope);
  const a = dora(scope, table, mac(1));
  const renew = run(scope, table, { type: DHCPREQUEST, mac: mac(1), ciaddr: a }, NOW + 1800);
  assert.equal(renew.reply?.type, DHCPACK);
  assert.equal(formatAddr(renew.reply!.fields.yiaddr), a);
  assert.equal(renew.lease!.expires, NOW + 1800 + 3600);
  assert.deepEqual(renew.reply!.to, { kind: "unicast", address: parseAddr(a) });
  const rebind = run(scope, table, { type: DHCPREQUEST, mac: mac(1), ciaddr: a, flags: 0x8000 }, NOW + 3200);
  assert.equal(rebind.reply?.type, DHCPACK);
});

test("INIT-REBOOT: own address ACKed, a foreign network or someone else's address NAKed (§4.3.2)", () => {
  const scope = scopeOf();
  const table = new LeaseTable(scope);
  const a = dora(scope, table, mac(1));
  const b = dora(scope, table, mac(2));
  assert.equal(run(scope, table, { type: DHCPREQUEST, mac: mac(1), requested: a }).reply?.type, DHCPACK);
  const foreign = run(scope, table, { type: DHCPREQUEST, mac: mac(1), requested: "203.0.113.50" });
  assert.equal(foreign.reply?.type, DHCPNAK);
  assert.equal(foreign.reply!.to.kind, "broadcast");
  assert.equal(foreign.reply!.fields.yiaddr, 0);
  assert.equal(opt(foreign, OPT.leaseTime), undefined);
  const stolen = run(scope, table, { type: DHCPREQUEST, mac: mac(1), requested: b });
  assert.equal(stolen.reply?.type, DHCPNAK);
  // a REQUEST in SELECTING for another server's offer: silence, and our offer is dropped
  const other = run(scope, table, {
    type: DHCPREQUEST,
    mac: mac(3),
    requested: "192.0.2.150",
    serverId: "192.0.2.99",
  });
  assert.equal(other.reply, undefined);
  // renewing an address bound to another client: NAK
  assert.equal(run(scope, table, { type: DHCPREQUEST, mac: mac(1), ciaddr: b }).reply?.type, DHCPNAK);
});

test("reservations: the reserved MAC gets its address, nobody else does", () => {
  const scope = scopeOf({ reservations: [{ mac: "02:00:5e:00:00:09", address: "192.0.2.10" }] });
  const table = new LeaseTable(scope);
  assert.equal(dora(scope, table, mac(9)), "192.0.2.10");
  // the reserved client asking for another address is told no
  assert.equal(
    run(scope, table, { type: DHCPREQUEST, mac: mac(9), requested: "192.0.2.120" }).reply?.type,
    DHCPNAK,
  );
  // another client asking for the reserved address gets a pool address instead
  const other = run(scope, table, { type: DHCPDISCOVER, mac: mac(1), requested: "192.0.2.10" });
  assert.notEqual(formatAddr(other.reply!.fields.yiaddr), "192.0.2.10");
});

test("ranges and exclusions: only pool addresses outside exclusions are handed out", () => {
  const scope = scopeOf({
    ranges: ["192.0.2.100-192.0.2.104"],
    exclude: ["192.0.2.101-192.0.2.102"],
    maxLeasesPerMinute: 60,
  });
  const table = new LeaseTable(scope);
  const got = [1, 2, 3].map((i) => dora(scope, table, mac(i)));
  assert.deepEqual(got.sort(), ["192.0.2.100", "192.0.2.103", "192.0.2.104"]);
  // pool exhausted: silence, counted
  assert.equal(run(scope, table, { type: DHCPDISCOVER, mac: mac(4) }).drop, "pool exhausted");
});

test("client identifier (option 61) identifies the client, not chaddr, and is echoed (RFC 6842)", () => {
  const scope = scopeOf();
  const table = new LeaseTable(scope);
  const id = Uint8Array.of(0xff, 1, 2, 3, 4);
  const o = run(scope, table, { type: DHCPDISCOVER, mac: mac(1), clientId: id });
  const yi = formatAddr(o.reply!.fields.yiaddr);
  run(scope, table, { type: DHCPREQUEST, mac: mac(1), clientId: id, requested: yi, serverId: "192.0.2.1" });
  // same identifier behind another NIC: same address
  const again = run(scope, table, { type: DHCPDISCOVER, mac: mac(2), clientId: id });
  assert.equal(formatAddr(again.reply!.fields.yiaddr), yi);
  assert.deepEqual([...opt(again, OPT.clientId)!], [...id]);
});

test("RELEASE frees the address; DECLINE quarantines it", () => {
  const scope = scopeOf({ ranges: ["192.0.2.100-192.0.2.101"], maxLeasesPerMinute: 60 });
  const table = new LeaseTable(scope);
  const a = dora(scope, table, mac(1));
  const b = dora(scope, table, mac(2));
  assert.equal(run(scope, table, { type: DHCPDISCOVER, mac: mac(3) }).drop, "pool exhausted");
  const rel = run(scope, table, { type: DHCPRELEASE, mac: mac(1), ciaddr: a, serverId: "192.0.2.1" });
  assert.equal(rel.lease?.state, "released");
  assert.equal(dora(scope, table, mac(3)), a);
  const dec = run(scope, table, { type: DHCPDECLINE, mac: mac(2), requested: b, serverId: "192.0.2.1" });
  assert.equal(dec.lease?.state, "declined");
  assert.equal(dec.reply, undefined);
  // quarantined: nobody, not even the decliner, gets it during probation
  assert.equal(run(scope, table, { type: DHCPDISCOVER, mac: mac(2) }).drop, "pool exhausted");
  assert.equal(run(scope, table, { type: DHCPDISCOVER, mac: mac(4) }, NOW + 3601).reply?.type, DHCPOFFER);
});

test("INFORM gets configuration without a lease, sent to ciaddr (§4.3.5)", () => {
  const scope = scopeOf({ dnsServers: ["192.0.2.53"] });
  const d = decide(
    scope,
    new LeaseTable(scope),
    msg({ type: DHCPINFORM, mac: mac(1), ciaddr: "192.0.2.77" }),
    NOW,
  );
  assert.equal(d.reply?.type, DHCPACK);
  assert.equal(d.reply!.fields.yiaddr, 0);
  assert.equal(opt(d, OPT.leaseTime), undefined);
  assert.ok(opt(d, OPT.dnsServers));
  assert.deepEqual(d.reply!.to, { kind: "unicast", address: parseAddr("192.0.2.77") });
  assert.equal(d.lease, undefined);
});

test("the pool's size, the default budget of new bindings (a quarter of the pool) and the reserve (10%)", () => {
  const scope = scopeOf({
    ranges: ["192.0.2.1-192.0.2.120", "192.0.2.200-192.0.2.209"],
    exclude: ["192.0.2.100-192.0.2.109", "192.0.2.105-192.0.2.119", "192.0.2.205"],
    reservations: [{ mac: "02:00:5e:00:00:09", address: "192.0.2.50" }],
  });
  // 120 - 20 excluded (100-119) - the reservation - serverId 192.0.2.1, + 10 - 1 excluded
  assert.equal(scope.poolSize, 98 + 9);
  assert.equal(scope.maxLeasesPerMinute, 26);
  assert.equal(scope.reserve, 10);
  assert.equal(scopeOf({ ranges: ["192.0.2.100-192.0.2.102"] }).maxLeasesPerMinute, 4);
  assert.equal(scopeOf({ maxLeasesPerMinute: 7, poolReservePercent: 0 }).maxLeasesPerMinute, 7);
  assert.equal(scopeOf({ poolReservePercent: 0 }).reserve, 0);
});

test("a DISCOVER flood from many MACs and client identifiers binds nothing and blocks nobody", () => {
  const scope = scopeOf({ ranges: ["192.0.2.100-192.0.2.109"] });
  const table = new LeaseTable(scope);
  let offers = 0;
  for (let i = 100; i < 5100; i++) {
    const id = Uint8Array.of(0xff, i >> 8, i & 255);
    if (run(scope, table, { type: DHCPDISCOVER, mac: mac(i), clientId: id }, NOW + 1).reply) offers++;
  }
  // every DISCOVER got an OFFER: the oldest unrequested offer gave its address up each time
  assert.equal(offers, 5000);
  assert.ok(table.reclaimed >= 4990, String(table.reclaimed));
  assert.equal(table.boundCount(NOW + 1), 0);
  // a new client in the middle of it completes DISCOVER, OFFER, REQUEST, ACK
  assert.match(dora(scope, table, mac(1)), /^192\.0\.2\.10\d$/);
});

test("a REQUEST wins over another client's unrequested offer of the same address; the other gets a NAK", () => {
  const scope = scopeOf({ ranges: ["192.0.2.100"] });
  const table = new LeaseTable(scope);
  const a = run(scope, table, { type: DHCPDISCOVER, mac: mac(1) });
  const b = run(scope, table, { type: DHCPDISCOVER, mac: mac(2) });
  // one address: B's DISCOVER reclaimed A's offer
  assert.equal(formatAddr(b.reply!.fields.yiaddr), "192.0.2.100");
  assert.equal(table.reclaimed, 1);
  // A answers its OFFER first: it still counts as answering our offer, and wins
  const select = (m: Uint8Array) =>
    run(scope, table, { type: DHCPREQUEST, mac: m, requested: "192.0.2.100", serverId: "192.0.2.1" });
  assert.equal(select(mac(1)).reply?.type, DHCPACK);
  assert.equal(formatAddr(a.reply!.fields.yiaddr), "192.0.2.100");
  assert.equal(select(mac(2)).reply?.type, DHCPNAK);
});

/** DISCOVER, OFFER, REQUEST, and the REQUEST once more if it was turned away (as clients retransmit). */
function patient(
  scope: Scope,
  table: LeaseTable,
  m: Uint8Array,
  now = NOW,
): { first: Decision; last: Decision } {
  const offer = run(scope, table, { type: DHCPDISCOVER, mac: m }, now);
  assert.equal(offer.reply?.type, DHCPOFFER, "an OFFER takes no token");
  const request = {
    type: DHCPREQUEST,
    mac: m,
    requested: formatAddr(offer.reply!.fields.yiaddr),
    serverId: "192.0.2.1",
  };
  const first = run(scope, table, request, now);
  return { first, last: first.reply ? first : run(scope, table, request, now + 1) };
}

test("new bindings: half the budget to anyone, the rest to clients that come back; claims without our offer never take the reserve", () => {
  const scope = scopeOf({
    ranges: ["192.0.2.100-192.0.2.199"],
    maxLeasesPerMinute: 20,
    poolReservePercent: 10,
  });
  assert.equal(scope.reserve, 10);
  const table = new LeaseTable(scope);
  const known = dora(scope, table, mac(1));
  // blind claims from many MACs (INIT-REBOOT and SELECTING for addresses never offered to them)
  const blindFlood = (now: number, from: number) => {
    let acks = 0;
    for (let i = 0; i < 400; i++) {
      const requested = `192.0.2.${100 + (i % 100)}`;
      const m = mac(from + i);
      const d =
        i % 2 === 0
          ? run(scope, table, { type: DHCPREQUEST, mac: m, requested }, now)
          : run(scope, table, { type: DHCPREQUEST, mac: m, requested, serverId: "192.0.2.1" }, now);
      if (d.reply?.type === DHCPACK) acks++;
    }
    return acks;
  };
  // the first half of 20: one went to the first client, the flood of new identities took the rest
  assert.equal(blindFlood(NOW, 10_000), 9);
  // a new client answering our OFFER is turned away once, and served when it comes back
  for (let i = 0; i < 10; i++) {
    const { first, last } = patient(scope, table, mac(2 + i));
    assert.equal(first.drop, "rate limited (maxLeasesPerMinute)");
    assert.equal(last.reply?.type, DHCPACK);
  }
  // the minute's budget is spent: even a client that comes back waits
  assert.equal(patient(scope, table, mac(50)).last.drop, "rate limited (maxLeasesPerMinute)");
  // a known client renews whatever the budget says
  assert.equal(run(scope, table, { type: DHCPREQUEST, mac: mac(1), ciaddr: known }).reply?.type, DHCPACK);
  // minute after minute, blind claims stop at the reserve: the last 10 free addresses stay
  let now = NOW;
  for (let minute = 1; minute < 30; minute++) {
    now += 61;
    blindFlood(now, 100_000 * minute);
  }
  assert.equal(table.free(now), scope.reserve);
  // and a client answering our OFFER gets one of them
  assert.equal(patient(scope, table, mac(60), now).last.reply?.type, DHCPACK);
  assert.equal(table.free(now + 1), scope.reserve - 1);
});

test("one live binding per hardware address: a new client identifier behind the same MAC moves it", () => {
  const scope = scopeOf();
  const table = new LeaseTable(scope);
  const first = run(scope, table, { type: DHCPDISCOVER, mac: mac(1), clientId: Uint8Array.of(1, 1) });
  const a = formatAddr(first.reply!.fields.yiaddr);
  const ackA = run(scope, table, {
    type: DHCPREQUEST,
    mac: mac(1),
    clientId: Uint8Array.of(1, 1),
    requested: a,
    serverId: "192.0.2.1",
  });
  const second = run(
    scope,
    table,
    { type: DHCPDISCOVER, mac: mac(1), clientId: Uint8Array.of(1, 2) },
    NOW + 5,
  );
  const b = formatAddr(second.reply!.fields.yiaddr);
  const ackB = run(
    scope,
    table,
    { type: DHCPREQUEST, mac: mac(1), clientId: Uint8Array.of(1, 2), requested: b, serverId: "192.0.2.1" },
    NOW + 5,
  );
  assert.notEqual(a, b);
  assert.equal(table.boundCount(NOW + 5), 1);
  assert.equal(table.byAddress(parseAddr(a))?.state, "released");
  // the same state whatever order a store hands the records back in
  const replay = new LeaseTable(scope);
  replay.put(ackB.lease!);
  replay.put(ackA.lease!);
  assert.equal(replay.boundCount(NOW + 5), 1);
  assert.equal(replay.byAddress(parseAddr(b))?.state, "bound");
});

test("fuzz: decide never throws and never hands one address to two clients", () => {
  const scope = scopeOf({
    ranges: ["192.0.2.100-192.0.2.104"],
    reservations: [{ mac: "02:00:5e:00:00:01", address: "192.0.2.10" }],
  });
  const types = [DHCPDISCOVER, DHCPREQUEST, DHCPDECLINE, DHCPRELEASE, DHCPINFORM, 2, 5, 9];
  const addrs = ["192.0.2.100", "192.0.2.101", "192.0.2.104", "192.0.2.10", "203.0.113.9"];
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          type: fc.constantFrom(...types),
          client: fc.integer({ min: 1, max: 8 }),
          requested: fc.option(fc.constantFrom(...addrs), { nil: undefined }),
          ciaddr: fc.option(fc.constantFrom(...addrs), { nil: undefined }),
          serverId: fc.option(fc.constantFrom("192.0.2.1", "192.0.2.9"), { nil: undefined }),
          dt: fc.integer({ min: 0, max: 4000 }),
        }),
        { maxLength: 60 },
      ),
      (steps) => {
        const table = new LeaseTable(scope);
        // what the ACKs promised: address → client until expiry
        const promised = new Map<number, { client: string; expires: number }>();
        let now = NOW;
        for (const s of steps) {
          now += s.dt;
          const d = run(
            scope,
            table,
            {
              type: s.type,
              mac: mac(s.client),
              requested: s.requested,
              ciaddr: s.ciaddr,
              serverId: s.serverId,
            },
            now,
          );
          if (d.lease && d.lease.state !== "bound") {
            const p = promised.get(d.lease.address);
            if (p?.client === d.lease.client) promised.delete(d.lease.address);
          }
          if (d.reply?.type === DHCPACK && d.lease) {
            const p = promised.get(d.lease.address);
            if (p && p.client !== d.lease.client)
              assert.ok(p.expires <= now, `${formatAddr(d.lease.address)} promised twice`);
            for (const [a, q] of promised) if (q.client === d.lease.client) promised.delete(a);
            promised.set(d.lease.address, { client: d.lease.client, expires: d.lease.expires });
          }
        }
      },
    ),
    { numRuns: 400 },
  );
});

test("a message that is a reply, or has no type, is dropped", () => {
  const scope = scopeOf();
  const b = build({ type: DHCPDISCOVER });
  b[0] = 2;
  const d = decode(b);
  assert.ok(d.ok);
  assert.equal(decide(scope, new LeaseTable(scope), d.msg, NOW).drop, "not a BOOTREQUEST");
});
