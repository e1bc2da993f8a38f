// The session snapshot a packet worker publishes: records of numbers in the worker, rows on the main thread.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Nat64State } from "../../../src/datapath/nat64/state.ts";
import { TcpState } from "../../../src/datapath/nat64/tcp.ts";
import { Rfc6052Prefix } from "../../../src/datapath/siit/index.ts";
import { SESSION_WORDS, sessionRecords, sessionRows } from "../../../src/datapath/tun/snapshot.ts";
import { addr6 } from "../siit/build.ts";

const TIMEOUTS = { udp: 300, icmp: 60, tcpEstablished: 7440, tcpTransitory: 240, tcpIncomingSyn: 6 };
const POOL = [{ first: 0xc6336401, last: 0xc6336401, portMin: 1024, portMax: 65535 }];
const pool6 = new Rfc6052Prefix(addr6("2001:db8:64::"), 96);

describe("session snapshot", () => {
  it("records the oldest sessions first, at most `limit`, and reads them back as rows", () => {
    const st = new Nat64State(POOL, TIMEOUTS);
    const host = addr6("2001:db8:1::2");
    const udp = st.createBib(17, host, 0, 5000);
    st.createSession(udp, 0xcb00710a, 53, 0);
    const tcp = st.createBib(6, host, 0, 5001);
    const s = st.createSession(tcp, 0xcb00710b, 443, 0);
    st.tcpPacket(s, true, 0x02, 0); // SYN from the IPv6 side
    const icmp = st.createBib(1, host, 0, 77);
    st.createSession(icmp, 0xcb00710c, 0, 0);

    const two = sessionRecords(st, 2, 10_000);
    assert.equal(two.length, 2 * SESSION_WORDS);
    const all = sessionRows(sessionRecords(st, 10, 10_000), pool6);
    assert.deepEqual(
      all.map((r) => [r.proto, r.ipv6, r.port6, r.remote4, r.remotePort, r.remote6, r.state, r.static]),
      [
        ["udp", "2001:db8:1::2", 5000, "203.0.113.10", 53, "2001:db8:64::cb00:710a", "", false],
        ["tcp", "2001:db8:1::2", 5001, "203.0.113.11", 443, "2001:db8:64::cb00:710b", "V6_INIT", false],
        // ICMP: the remote "port" is the identifier the BIB entry holds
        ["icmp", "2001:db8:1::2", 77, "203.0.113.12", st.bibPort4(icmp), "2001:db8:64::cb00:710c", "", false],
      ],
    );
    assert.equal(all[0]!.ipv4, "198.51.100.1");
    assert.equal(all[0]!.port4, st.bibPort4(udp));
    // UDP lives 300 s from its last packet; 10 s have passed. A TCP session in V6_INIT: 240 s.
    assert.equal(all[0]!.expiresIn, 290);
    assert.equal(st.sessionState(s), TcpState.V6Init);
    assert.deepEqual(sessionRows(two, pool6, 1).length, 1);
  });

  it("an empty table is an empty record", () => {
    const st = new Nat64State(POOL, TIMEOUTS);
    assert.equal(sessionRecords(st, 2000, 0).length, 0);
    assert.deepEqual(sessionRows(new Uint32Array(0), pool6), []);
  });
});
