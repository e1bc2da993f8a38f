// Sends hostile traffic to the DHCP server port on the link (run inside a client namespace that
// has an address): random bytes, truncated and garbled messages, option overflow, oversized
// datagrams, and a starvation run of DISCOVERs from many MACs. Bounded: exits when done.
//   node --import tsx test/services/dhcp4/hostile-sender.ts <broadcast address> <count per kind>
import * as dgram from "node:dgram";
import { DHCPDISCOVER } from "../../../src/services/dhcp4/wire.ts";
import { build, mac } from "./helpers.ts";

const to = process.argv[2] ?? "255.255.255.255";
const n = Number(process.argv[3] ?? "500");
const s = dgram.createSocket("udp4");
await new Promise<void>((r) => s.bind(0, () => r()));
s.setBroadcast(true);

function send(b: Uint8Array): Promise<void> {
  return new Promise((resolve) => s.send(b, 67, to, () => resolve()));
}

let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed;
};
const kinds: Record<string, (i: number) => Uint8Array> = {
  garbage: () => Uint8Array.from({ length: rnd() % 700 }, () => rnd() & 255),
  truncated: (i) => build({ type: DHCPDISCOVER, mac: mac(900000 + i) }).subarray(0, rnd() % 240),
  garbledOptions: (i) => {
    const b = build({ type: DHCPDISCOVER, mac: mac(800000 + i), prl: [1, 3, 6, 108] });
    for (let k = 0; k < 8; k++) b[240 + (rnd() % (b.length - 240))] = rnd() & 255;
    return b;
  },
  optionOverflow: (i) => {
    const b = build({ type: DHCPDISCOVER, mac: mac(700000 + i) });
    b[b.length - 1] = 43; // an option whose length runs past the end
    const c = new Uint8Array(b.length + 1);
    c.set(b);
    c[b.length] = 200;
    return c;
  },
  oversized: (i) => {
    const b = new Uint8Array(5000 + (i % 3000));
    b.set(build({ type: DHCPDISCOVER, mac: mac(600000 + i) }).subarray(0, 240));
    return b;
  },
  starvation: (i) => build({ type: DHCPDISCOVER, mac: mac(100000 + i), xid: i }),
};
const sent: Record<string, number> = {};
for (const [name, make] of Object.entries(kinds)) {
  sent[name] = 0;
  for (let i = 0; i < n; i++) {
    await send(make(i));
    sent[name]++;
  }
}
process.stdout.write(`SENT ${JSON.stringify(sent)}\n`);
s.close();
