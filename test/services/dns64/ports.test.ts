// The source-port pool (src/services/dns64/ports.ts) on its own: fresh CSPRNG ports, a socket closes
// once its window is over and its queries are done, and at MAX_OPEN sockets new windows share.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_OPEN, PORT_RANGE, PortPool, type UdpPort } from "../../../src/services/dns64/ports.ts";
import { Entropy } from "../../../src/services/dns64/random.ts";

test("PortPool: fresh ports in range; closed when the turn is over and nothing waits; at MAX_OPEN windows share", () => {
  const opened: UdpPort<number>[] = [];
  const pool = new PortPool<number>(4, new Entropy(), (p) => opened.push(p));
  try {
    const a = pool.acquire(0);
    a.pending.set(1, 1);
    pool.endTurn(a);
    assert.equal(a.closed, false, "a query still waits on it");
    a.pending.delete(1);
    pool.release(a);
    assert.equal(a.closed, true, "turn over, nothing waiting: closed");
    const b = pool.acquire(0);
    pool.endTurn(b);
    assert.equal(b.closed, true, "an unused port closes at the end of its turn");

    // an upstream that answers nothing: every window keeps its socket open until the cap
    const held: UdpPort<number>[] = [];
    for (let i = 0; i < MAX_OPEN + 6; i++) {
      const p = pool.acquire(0);
      p.pending.set(i, i);
      pool.endTurn(p);
      held.push(p);
    }
    assert.equal(pool.openCount, MAX_OPEN);
    assert.equal(pool.stats.portsShared, 6);
    assert.equal(pool.stats.portsOpened, MAX_OPEN + 2);
    const ports = new Set(opened.map((p) => p.port));
    for (const p of ports) assert.ok(p >= PORT_RANGE[0] && p <= PORT_RANGE[1], `port ${p}`);
    // 1,026 draws from 64,512 ports: a few may repeat over time (closed ones), not many
    assert.ok(ports.size > MAX_OPEN - 20, `${ports.size} distinct ports`);
    for (const p of held) {
      p.pending.clear();
      pool.release(p);
    }
    assert.equal(pool.openCount, 0, "all closed once their queries are done");
  } finally {
    pool.close();
  }
});
