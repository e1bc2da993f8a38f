import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import type { Lease } from "../../../src/services/dhcp4/leases.ts";
import { FileLeaseStore } from "../../../src/services/dhcp4/store.ts";

function lease(i: number, state: Lease["state"] = "bound"): Lease {
  return {
    address: 0xc0000200 + i,
    client: `hw:1:02005e0000${i.toString(16).padStart(2, "0")}`,
    hwaddr: "",
    state,
    expires: 2_000_000_000 + i,
  };
}

test("records saved are loaded again after a reopen; the latest record of an address wins", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "v6m-dhcp4-store-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = new FileLeaseStore(dir, "lan");
  assert.deepEqual(await a.load(), []);
  await Promise.all([a.save([lease(1)]), a.save([lease(2)]), a.save([lease(3)])]);
  await a.save([lease(2, "released")]);
  assert.ok(a.stats().fsyncs! >= 1);
  await a.close();
  const b = new FileLeaseStore(dir, "lan");
  const got = (await b.load()).sort((x, y) => x.address - y.address);
  assert.deepEqual(
    got.map((l) => l.state),
    ["bound", "released", "bound"],
  );
  await b.close();
});

test("a line torn by a crash is skipped, the rest is kept", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "v6m-dhcp4-store-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = new FileLeaseStore(dir, "lan");
  await a.load();
  await a.save([lease(1), lease(2)]);
  await a.close();
  fs.appendFileSync(a.file, '{"address":3232236', "utf8");
  const b = new FileLeaseStore(dir, "lan");
  assert.equal((await b.load()).length, 2);
  assert.equal(b.stats().corruptLines, 1);
  await b.save([lease(4)]);
  await b.close();
  const c = new FileLeaseStore(dir, "lan");
  assert.equal((await c.load()).length, 3);
  await c.close();
});

test("the journal is compacted (temp file, fsync, rename) and keeps every live record", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "v6m-dhcp4-store-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = new FileLeaseStore(dir, "lan", { compactAfter: 50 });
  await a.load();
  for (let round = 0; round < 20; round++)
    await a.save([lease(1), lease(2), lease(3, round % 2 ? "bound" : "released")]);
  assert.ok(a.stats().compactions! >= 1);
  assert.ok(fs.readFileSync(a.file, "utf8").trim().split("\n").length < 60);
  await a.close();
  assert.equal(fs.existsSync(`${a.file}.tmp`), false);
  const b = new FileLeaseStore(dir, "lan");
  const got = await b.load();
  assert.equal(got.length, 3);
  assert.equal(got.find((l) => l.address === lease(3).address)!.state, "bound");
  await b.close();
});
