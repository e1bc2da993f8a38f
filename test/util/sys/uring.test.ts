// io_uring through koffi (src/util/sys/uring.ts) on an eventfd: writes and reads submitted in one
// io_uring_enter, their results from the completion queue, RWF_NOWAIT's EAGAIN on an empty one,
// SQEs queued again. No root needed; skipped (with the reason) where the kernel refuses io_uring.
import assert from "node:assert/strict";
import { test } from "node:test";
import { addressOf, close, eventfd } from "../../../src/datapath/tun/sys.ts";
import { SysError } from "../../../src/util/sys/libc.ts";
import { IORING_OP_READ, IORING_OP_WRITE, RWF_NOWAIT, Uring } from "../../../src/util/sys/uring.ts";

const EFD_NONBLOCK = 0o4000;
const EAGAIN = 11;

function open(): Uring | string {
  try {
    return new Uring(8);
  } catch (e) {
    if (e instanceof SysError) return `io_uring unavailable here: ${e.message}`;
    throw e;
  }
}

test("writes and reads on an eventfd, several per io_uring_enter", (t) => {
  const ring = open();
  if (typeof ring === "string") return t.skip(ring);
  const fd = eventfd(0, EFD_NONBLOCK);
  assert.ok(fd >= 0);
  const buf = new Uint8Array(4096);
  const at = addressOf(buf);
  try {
    // two writes of 8-byte counters (5 and 7), then one read: the eventfd sums them
    const v = new DataView(buf.buffer);
    v.setBigUint64(0, 5n, true);
    v.setBigUint64(8, 7n, true);
    ring.fill(0, IORING_OP_WRITE, fd, at, 8, 100);
    ring.fill(1, IORING_OP_WRITE, fd, at + 8, 8, 101);
    ring.fill(2, IORING_OP_READ, fd, at + 64, 8, 102, RWF_NOWAIT);
    for (const i of [0, 1, 2]) assert.ok(ring.push(i));
    assert.equal(ring.submit(3), 3);
    assert.equal(ring.ready(), 3);
    const results = new Map<number, number>();
    for (let i = 0; i < 3; i++) results.set(ring.userData(i), ring.result(i));
    ring.consume(3);
    assert.deepEqual(
      [...results.entries()].sort((a, b) => a[0] - b[0]),
      [
        [100, 8],
        [101, 8],
        [102, 8],
      ],
    );
    assert.equal(v.getBigUint64(64, true), 12n);
    // The counter is empty now: the same read SQE queued again fails at once with EAGAIN.
    assert.ok(ring.push(2));
    assert.equal(ring.submit(1), 1);
    assert.equal(ring.ready(), 1);
    assert.equal(ring.userData(0), 102);
    assert.equal(ring.result(0), -EAGAIN);
    ring.consume(1);
    assert.equal(ring.ready(), 0);
  } finally {
    close(fd);
    ring.close();
  }
});

test("the submission queue refuses more than its entries", (t) => {
  const ring = open();
  if (typeof ring === "string") return t.skip(ring);
  try {
    for (let i = 0; i < ring.entries; i++) assert.ok(ring.push(0));
    assert.equal(ring.push(0), false);
  } finally {
    ring.close();
  }
});
