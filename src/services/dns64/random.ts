// Unpredictable numbers for what an off-path attacker must guess (RFC 5452 §9.2): query IDs,
// source ports and the 0x20 case bits. Drawn from the operating system's CSPRNG
// (crypto.randomFillSync) a block at a time, so that one value costs a few array reads rather than
// a call into OpenSSL.
import { randomFillSync } from "node:crypto";

const BLOCK = 4096;

export class Entropy {
  private readonly buf = new Uint8Array(BLOCK);
  private at = BLOCK;

  byte(): number {
    if (this.at === BLOCK) {
      randomFillSync(this.buf);
      this.at = 0;
    }
    return this.buf[this.at++]!;
  }

  /** 0..65535, every value equally likely (a DNS ID, RFC 5452 §9.2: the full range) */
  u16(): number {
    return (this.byte() << 8) | this.byte();
  }

  /** An integer in [lo, hi], every value equally likely (rejection sampling on 16 bits). */
  range16(lo: number, hi: number): number {
    const span = hi - lo + 1;
    if (span <= 0 || span > 0x10000) throw new RangeError(`range16(${lo}, ${hi})`);
    const limit = 0x10000 - (0x10000 % span); // the largest multiple of span: no modulo bias
    for (;;) {
      const v = this.u16();
      if (v < limit) return lo + (v % span);
    }
  }
}
