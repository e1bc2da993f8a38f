// pool4 split between nodes: complete, disjoint, deterministic, and stable when nodes come and go.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { blockSize, splitPool4 } from "../../src/planner/pool4.ts";
import { parseRange, type Range } from "../../src/util/net.ts";

const range = (t: string): Range => {
  const r = parseRange(t, 4);
  assert.ok(r.ok);
  return r.value;
};

/** address → owning node */
function owners(pool: Range[], nodes: string[]): Map<bigint, string> {
  const m = new Map<bigint, string>();
  for (const s of splitPool4(pool, nodes)) {
    for (const r of s.ranges)
      for (let a = r.first; a <= r.last; a++) {
        assert.ok(!m.has(a), `address ${a} given twice`);
        m.set(a, s.node);
      }
  }
  return m;
}

const POOL = [range("198.51.100.0/24"), range("203.0.113.10-203.0.113.60")];
const nodeNames = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 6 });

describe("pool4 split", () => {
  it("gives every address to exactly one node, and the counts add up", () => {
    fc.assert(
      fc.property(nodeNames, (nodes) => {
        const shares = splitPool4(POOL, nodes);
        const m = owners(POOL, nodes);
        assert.equal(m.size, 256 + 51);
        assert.equal(
          shares.reduce((n, s) => n + s.count, 0),
          256 + 51,
        );
        assert.deepEqual(
          shares.map((s) => s.node),
          nodes,
        );
      }),
      { numRuns: 100 },
    );
  });

  it("moves only the leaving node's addresses when a node leaves", () => {
    fc.assert(
      fc.property(
        nodeNames.filter((n) => n.length >= 2),
        fc.nat(),
        (nodes, k) => {
          const gone = nodes[k % nodes.length]!;
          const before = owners(POOL, nodes);
          const after = owners(
            POOL,
            nodes.filter((n) => n !== gone),
          );
          for (const [addr, owner] of before) if (owner !== gone) assert.equal(after.get(addr), owner);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("takes addresses only for the joining node when a node joins", () => {
    fc.assert(
      fc.property(nodeNames, fc.stringMatching(/^new[a-z0-9]{0,4}$/), (nodes, joining) => {
        fc.pre(!nodes.includes(joining));
        const before = owners(POOL, nodes);
        const after = owners(POOL, [...nodes, joining]);
        for (const [addr, owner] of after) if (owner !== joining) assert.equal(before.get(addr), owner);
      }),
      { numRuns: 100 },
    );
  });

  it("does not depend on the order nodes are listed in", () => {
    const a = owners(POOL, ["n1", "n2", "n3"]);
    const b = owners(POOL, ["n3", "n1", "n2"]);
    assert.deepEqual([...a].sort(), [...b].sort());
  });

  it("spreads a large pool roughly evenly", () => {
    const shares = splitPool4([range("198.18.0.0/20")], ["a", "b", "c", "d"]);
    for (const s of shares)
      assert.ok(s.count > 4096 * 0.15 && s.count < 4096 * 0.35, `${s.node}: ${s.count}`);
  });

  it("plans a /15 in blocks, at most 4096 of them", () => {
    const pool = [range("198.18.0.0/15")];
    assert.equal(blockSize(pool), 32n);
    const shares = splitPool4(pool, ["a", "b"]);
    assert.equal(shares[0]!.count + shares[1]!.count, 131072);
  });

  it("merges adjacent addresses into ranges", () => {
    const [only] = splitPool4([range("198.51.100.1-198.51.100.50")], ["solo"]);
    assert.deepEqual(
      only!.ranges.map((r) => r.text),
      ["198.51.100.1-198.51.100.50"],
    );
  });
});
