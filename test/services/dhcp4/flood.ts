// A starvation flood, run inside a client namespace that has an address: DISCOVERs, INIT-REBOOT
// REQUESTs and SELECTING REQUESTs for random pool addresses, each from a new random MAC and a new
// random client identifier (option 61), with the broadcast bit set so that every reply comes back
// here to be counted. With "complete": true it also answers every OFFER it gets with a REQUEST (a
// full DISCOVER/OFFER/REQUEST exchange per fake client, as starvation tools do). Sent to
// 255.255.255.255 from port 68 on `device`, as clients send. Bounded: stops after `seconds` or
// `packets`, or on SIGTERM, then prints one line FLOOD {figures}.
//   node --import tsx test/services/dhcp4/flood.ts '{"device":"eth0","server":"192.0.2.1",
//     "pool":["192.0.2.100","192.0.2.149"],"rate":200,"seconds":60,"packets":12000,"complete":false}'
import { randomBytes } from "node:crypto";
import * as dgram from "node:dgram";
import {
  DHCPACK,
  DHCPDISCOVER,
  DHCPNAK,
  DHCPOFFER,
  DHCPREQUEST,
  decode,
  formatAddr,
  messageType,
  OPT,
  optionAddress,
  parseAddr,
} from "../../../src/services/dhcp4/wire.ts";
import { udp4SocketOnDevice } from "../../../src/util/sys/udp4.ts";
import { build } from "./helpers.ts";

interface Config {
  device: string;
  server: string;
  pool: [string, string];
  /** packets per second */
  rate: number;
  seconds: number;
  packets: number;
  complete?: boolean;
}

const cfg = JSON.parse(process.argv[2]!) as Config;
const first = parseAddr(cfg.pool[0]);
const size = parseAddr(cfg.pool[1]) - first + 1;
const s = dgram.createSocket("udp4");
await new Promise<void>((r) => s.bind({ fd: udp4SocketOnDevice(cfg.device, 68) }, () => r()));

const sent = { discover: 0, initReboot: 0, selecting: 0, completing: 0 };
const got = { offers: 0, acks: 0, naks: 0 };
const bound = new Set<string>();
/** our fake clients by xid */
const clients = new Map<number, { mac: Uint8Array; id: Uint8Array }>();

function fake(): { mac: Uint8Array; id: Uint8Array; xid: number } {
  const mac = randomBytes(6);
  mac[0] = (mac[0]! & 0xfc) | 0x02; // unicast, locally administered
  const id = Uint8Array.from([0xff, ...randomBytes(8)]);
  const xid = randomBytes(4).readUInt32BE();
  clients.set(xid, { mac, id });
  if (clients.size > 50_000) clients.delete(clients.keys().next().value!);
  return { mac, id, xid };
}

const poolAddress = () => formatAddr(first + Math.floor(Math.random() * size));
const send = (b: Uint8Array) => s.send(b, 67, "255.255.255.255");
const BROADCAST = 0x8000;

s.on("message", (b) => {
  const d = decode(b);
  if (!d.ok) return;
  const c = clients.get(d.msg.xid);
  if (!c) return;
  const t = messageType(d.msg);
  if (t === DHCPOFFER) {
    got.offers++;
    if (!cfg.complete) return;
    const serverId = optionAddress(d.msg, OPT.serverId);
    if (serverId === undefined) return;
    sent.completing++;
    send(
      build({
        type: DHCPREQUEST,
        mac: c.mac,
        clientId: c.id,
        xid: d.msg.xid,
        flags: BROADCAST,
        requested: formatAddr(d.msg.yiaddr),
        serverId: formatAddr(serverId),
      }),
    );
  } else if (t === DHCPACK) {
    got.acks++;
    bound.add(formatAddr(d.msg.yiaddr));
  } else if (t === DHCPNAK) got.naks++;
});

const started = Date.now();
let i = 0;
const perTick = Math.max(1, Math.round(cfg.rate / 100));
const timer = setInterval(() => {
  for (let k = 0; k < perTick; k++) {
    if (i >= cfg.packets || Date.now() - started > cfg.seconds * 1000) return finish();
    const f = fake();
    const base = { mac: f.mac, clientId: f.id, xid: f.xid, flags: BROADCAST };
    switch (i++ % 3) {
      case 0:
        sent.discover++;
        send(build({ ...base, type: DHCPDISCOVER }));
        break;
      case 1:
        // INIT-REBOOT: "I had this address" (§4.3.2), from a client the server never saw
        sent.initReboot++;
        send(build({ ...base, type: DHCPREQUEST, requested: poolAddress() }));
        break;
      default:
        // SELECTING for an address the server never offered this client
        sent.selecting++;
        send(build({ ...base, type: DHCPREQUEST, requested: poolAddress(), serverId: cfg.server }));
    }
  }
}, 10);

let finished = false;
function finish(): void {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  // replies still on their way are counted for half a second more
  setTimeout(() => {
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `FLOOD ${JSON.stringify({ seconds, sent, got, addressesBound: bound.size, complete: cfg.complete === true })}\n`,
    );
    s.close();
  }, 500);
}
process.on("SIGTERM", finish);
