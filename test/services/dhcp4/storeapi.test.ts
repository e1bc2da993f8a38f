// The API-backed lease store, against the in-process fake API and against a real kube-apiserver
// (test/cluster): leases survive from one owner to the next; a takeover fences the old owner's
// writes (409 on its resourceVersion), a lost answer to its own write is not mistaken for one;
// concurrent writes of the old owner during a takeover are kept; the size stays bounded.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CORE, KubeClient, type KubeObject, type RequestInit } from "../../../src/operator/runtime/client.ts";
import type { Lease } from "../../../src/services/dhcp4/leases.ts";
import { ApiLeaseStore, FencedError, leaseStoreName } from "../../../src/services/dhcp4/storeapi.ts";
import { type ControlPlane, controlPlaneAvailable, startControlPlane } from "../../cluster/controlplane.ts";
import { FakeApi } from "../../operator/support/fakeapi.ts";

const NS = "v6mostly";
const SCOPE = { namespace: "net", name: "lan" };
const FUTURE = Math.floor(Date.now() / 1000) + 3600;

function lease(i: number, over: Partial<Lease> = {}): Lease {
  return {
    address: 0xc0000264 + i,
    client: `hw:1:02005e1000${i.toString(16).padStart(2, "0")}`,
    hwaddr: `02:00:5e:10:00:${i.toString(16).padStart(2, "0")}`,
    state: "bound",
    expires: FUTURE,
    ...over,
  };
}

/** A client whose next PUT lands on the server but whose answer is lost. */
class LossyClient extends KubeClient {
  loseNextPut = false;
  override async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const r = await super.request<T>(method, path, init);
    if (method === "PUT" && this.loseNextPut) {
      this.loseNextPut = false;
      throw new Error("socket hang up");
    }
    return r;
  }
}

function cases(backend: string, env: () => { client: () => KubeClient; cleanup: () => Promise<void> }) {
  describe(`API lease store (${backend})`, () => {
    const store = (identity: string, client = env().client(), maxBytes?: number) =>
      new ApiLeaseStore({ client, namespace: NS, scope: SCOPE, identity, maxBytes });

    it("the next owner loads what the previous one saved", async () => {
      await env().cleanup();
      const a = store("node-a");
      assert.deepEqual(await a.load(), []);
      await Promise.all([a.save([lease(1)]), a.save([lease(2)]), a.save([lease(3)])]);
      await a.save([lease(2, { state: "released" })]);
      assert.ok(a.stats().writes! >= 2 && a.stats().writes! <= 4, `group commit: ${a.stats().writes} writes`);
      const b = store("node-b");
      const got = (await b.load()).sort((x, y) => x.address - y.address);
      assert.deepEqual(
        got.map((l) => [l.address - 0xc0000264, l.state]),
        [
          [1, "bound"],
          [2, "released"],
          [3, "bound"],
        ],
      );
      assert.equal(b.stats().term, 2);
      const cm = await env()
        .client()
        .get<KubeObject & { data: Record<string, string> }>(CORE.configmaps, NS, leaseStoreName(SCOPE));
      assert.equal(cm.data.holder, "node-b");
    });

    it("a takeover fences the old owner: its saves are refused, the new owner's content stays", async () => {
      await env().cleanup();
      const a = store("node-a");
      await a.load();
      await a.save([lease(1)]);
      const b = store("node-b");
      assert.equal((await b.load()).length, 1);
      // a wakes up and decides on a lease: refused, so its server withholds the reply
      await assert.rejects(a.save([lease(1, { client: "hw:1:02005e9999ff" })]), FencedError);
      await assert.rejects(a.save([lease(5)]), FencedError, "and every save after it");
      assert.equal(a.stats().fenced, 1);
      await b.save([lease(2)]);
      const c = store("node-c");
      const got = await c.load();
      assert.deepEqual(
        got.map((l) => [l.address - 0xc0000264, l.client]).sort(),
        [
          [1, lease(1).client],
          [2, lease(2).client],
        ],
        "a's late decision never reached the store",
      );
    });

    it("an answer lost after the write landed is not taken for a takeover", async () => {
      await env().cleanup();
      const lossy = new LossyClient(env().client().connection);
      const a = store("node-a", lossy);
      await a.load();
      lossy.loseNextPut = true;
      await assert.rejects(a.save([lease(1)]), /socket hang up/);
      await a.save([lease(2)]);
      assert.equal(a.stats().fenced, 0);
      assert.equal(a.stats().conflicts, 1);
      assert.equal((await store("node-b").load()).length, 2);
    });

    it("a takeover while the old owner still writes: every save it acknowledged is in what the new owner loads", async () => {
      await env().cleanup();
      const a = store("node-a");
      await a.load();
      // a saves lease after lease (each one a reply it would send) while b takes over
      const acked: number[] = [];
      let n = 0;
      let fenced = false;
      const writer = (async () => {
        while (!fenced && n < 200) {
          const l = lease(n++);
          try {
            await a.save([l]);
            acked.push(l.address);
          } catch (e) {
            if (e instanceof FencedError) fenced = true;
            else throw e;
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 30));
      const b = store("node-b");
      const got = new Set((await b.load()).map((l) => l.address));
      await writer;
      assert.ok(fenced, "a was fenced");
      assert.deepEqual(
        acked.filter((x) => !got.has(x)),
        [],
        "no acknowledged lease is missing from the takeover",
      );
      const again = await store("node-c").load();
      assert.equal(again.length, got.size, "nothing of a landed after b's takeover");
      process.stdout.write(
        `# ${backend}: a acknowledged ${acked.length} saves before it was fenced; b took over ${got.size} leases\n`,
      );
    });

    it("stays bounded: ended leases are dropped, oldest first; live ones alone are refused past the bound", async () => {
      await env().cleanup();
      const past = Math.floor(Date.now() / 1000) - 10;
      const first = [lease(1, { expires: past - 5 }), lease(2, { state: "released" }), lease(3), lease(4)];
      const bound = first.reduce((n, l) => n + JSON.stringify(l).length + 1, 0);
      const s = store("node-a", env().client(), bound);
      await s.load();
      await s.save(first);
      await s.save([lease(5)]);
      assert.equal(s.stats().pruned, 1);
      const kept = (await store("node-b").load()).map((l) => l.address - 0xc0000264).sort();
      assert.deepEqual(kept, [2, 3, 4, 5], "the oldest ended lease went");
      const s2 = store("node-c", env().client(), bound);
      await s2.load();
      await s2.save([lease(6)]); // the released one goes
      await assert.rejects(s2.save([lease(7)]), /lease store is full \(4 records/);
      assert.equal(s2.stats().refusedFull, 1);
    });
  });
}

let fake: FakeApi | undefined;
cases("fake API", () => ({
  client: () => fake!.client(),
  cleanup: async () => {
    await fake?.stop();
    fake = await new FakeApi().start();
  },
}));
after(async () => {
  await fake?.stop();
});

describe("the store's owner (helm uninstall removes the ConfigMap with the agent DaemonSet)", () => {
  it("names it from the creation; a store created without one gets it at the next takeover", async () => {
    const api = await new FakeApi().start();
    try {
      const owner = { apiVersion: "apps/v1", kind: "DaemonSet", name: "v6mostly-agent", uid: "u-2" };
      const owners = async () =>
        (await api.client().get(CORE.configmaps, NS, leaseStoreName(SCOPE))).metadata.ownerReferences;
      await new ApiLeaseStore({ client: api.client(), namespace: NS, scope: SCOPE, identity: "a" }).load();
      assert.equal(await owners(), undefined);
      await new ApiLeaseStore({
        client: api.client(),
        namespace: NS,
        scope: SCOPE,
        identity: "b",
        owner,
      }).load();
      assert.deepEqual(await owners(), [{ ...owner, blockOwnerDeletion: false }]);
      await api.client().delete(CORE.configmaps, NS, leaseStoreName(SCOPE));
      await new ApiLeaseStore({
        client: api.client(),
        namespace: NS,
        scope: SCOPE,
        identity: "c",
        owner,
      }).load();
      assert.deepEqual(await owners(), [{ ...owner, blockOwnerDeletion: false }]);
    } finally {
      await api.stop();
    }
  });
});

const why = controlPlaneAvailable();
describe("on a real kube-apiserver", { skip: why }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  before(async () => {
    cp = await startControlPlane({ name: "storeapi" });
    admin = await KubeClient.load(cp.kubeconfig);
    await admin.create(
      { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
      { metadata: { name: NS } },
    );
  });
  after(async () => {
    await cp?.stop();
  });
  cases("kube-apiserver 1.20", () => ({
    client: () => new KubeClient(admin.connection),
    cleanup: async () => {
      await admin.delete(CORE.configmaps, NS, leaseStoreName(SCOPE));
    },
  }));
});
