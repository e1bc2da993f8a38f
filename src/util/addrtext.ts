// Address text from raw bytes, for tables, logs and socket addresses (RFC 5952; the same text
// Node's dgram and `ip` print).

/** 192.0.2.1 from a 32-bit number. */
export function format4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** RFC 5952 text of the 16 bytes at `o`; IPv4-mapped addresses end dotted (RFC 4291 §2.5.5.2). */
export function format6(b: Uint8Array, o = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  }
  // RFC 5952 §4.2: the longest run (>= 2) of zero groups becomes "::", the first one on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}
