// The Router Advertisement service: RFC 4861 router behaviour on one interface for a RouterAdvert
// assignment. Periodic and solicited advertisements (schedule.ts), the content (advert.ts), the
// wire format (wire.ts), validation of what arrives (receive.ts), other routers' advertisements
// compared with ours (consistency.ts), a final advertisement with Router Lifetime 0 on stop.
//
// I/O lives here only: the raw ICMPv6 socket (src/util/sys/raw6.ts) and one timer.

import type { RaAssignment } from "../../planner/plan.ts";
import type { Logger } from "../../util/log.ts";
import { type Icmp6Packet, Icmp6Socket, type Poller, poll } from "../../util/sys/raw6.ts";
import type { RunningService, ServiceContext } from "../contract.ts";
import { buildAdvertisement, configProblems, type Link, linkProblems, withdrawnOptions } from "./advert.ts";
import { compareAdvertisements, describeInconsistency, type Inconsistency } from "./consistency.ts";
import { readLink } from "./link.ts";
import { validateMessage } from "./receive.ts";
import { AdvertSchedule, MAX_INITIAL_RTR_ADVERTISEMENTS } from "./schedule.ts";
import {
  encodeRouterAdvertisement,
  ICMP6_ROUTER_ADVERT,
  ICMP6_ROUTER_SOLICIT,
  ipv6Bytes,
  ipv6Text,
  type NdOption,
  type RouterAdvertisement,
} from "./wire.ts";

export interface OtherRouter {
  address: string;
  lastSeen: string;
  routerLifetime: number;
  preference: string;
  inconsistencies: Inconsistency[];
}

export interface RaStatus {
  interface: string;
  linkLocal: string;
  advertising: boolean;
  lastAdvertisement?: string;
  otherRouters: OtherRouter[];
}

export interface RouterAdvertService extends RunningService<RaAssignment> {
  /** Send the final advertisement (Router Lifetime 0, RFC 4861 §6.2.5) and close the socket. */
  stop(): Promise<void>;
  /** Apply a new configuration without a restart; rejects (and keeps the old one) when invalid. */
  update(a: RaAssignment): Promise<void>;
  status(): RaStatus;
}

export interface RaOptions {
  /** how long to wait for the interface's link-local address to leave DAD (default 5 s) */
  linkWaitMs?: number;
  /** socket poll period (default 20 ms, see raw6.ts) */
  pollMs?: number;
  random?: () => number;
}

const ALL_NODES = ipv6Bytes("ff02::1");
const ALL_ROUTERS = ipv6Bytes("ff02::2");
/** Other routers remembered at most (a flood of forged sources cannot grow the table). */
const MAX_OTHER_ROUTERS = 64;

export class RaConfigError extends Error {
  constructor(
    readonly resource: string,
    readonly problems: string[],
  ) {
    super(`RouterAdvert/${resource}: ${problems.join("; ")}`);
    this.name = "RaConfigError";
  }
}

export async function startRouterAdvert(
  assignment: RaAssignment,
  ctx: ServiceContext,
  opts: RaOptions = {},
): Promise<RouterAdvertService> {
  // Invalid configuration is rejected before anything is sent.
  const problems = configProblems(assignment);
  if (problems.length) throw new RaConfigError(assignment.name, problems);
  const link = await readLink(assignment.spec.interface, opts.linkWaitMs);
  const lp = linkProblems(assignment, link);
  if (lp.length) throw new RaConfigError(assignment.name, lp);
  const sender = new Sender(assignment, link, ctx.log.child({ svc: "ra", iface: link.name }), opts);
  sender.start();
  return {
    stop: () => sender.stop(),
    update: async (a) => {
      const p = configProblems(a);
      if (p.length) throw new RaConfigError(a.name, p);
      if (a.spec.interface !== sender.link.name) {
        // another interface: stop here (final RA) and start over there
        const newLink = await readLink(a.spec.interface, opts.linkWaitMs);
        const lp2 = linkProblems(a, newLink);
        if (lp2.length) throw new RaConfigError(a.name, lp2);
        await sender.moveTo(a, newLink);
        return;
      }
      const lp2 = linkProblems(a, sender.link);
      if (lp2.length) throw new RaConfigError(a.name, lp2);
      sender.reconfigure(a);
    },
    stats: () => sender.stats(),
    status: () => sender.status(),
  };
}

class Sender {
  private sock: Icmp6Socket | undefined;
  private poller: Poller | undefined;
  private timer: NodeJS.Timeout | undefined;
  private schedule!: AdvertSchedule;
  private withdrawn: NdOption[] = [];
  private withdrawnLeft = 0;
  private lastSent: number | undefined;
  private stopped = false;
  private others = new Map<string, OtherRouter & { seen: number; reported: string }>();
  private counters = {
    advertisementsSent: 0,
    advertisementsUnsolicited: 0,
    advertisementsSolicited: 0,
    finalAdvertisementsSent: 0,
    solicitationsReceived: 0,
    solicitationsMerged: 0,
    advertisementsReceived: 0,
    inconsistenciesReported: 0,
    dropped: 0,
    sendErrors: 0,
    receiveErrors: 0,
    configUpdates: 0,
  };

  constructor(
    private assignment: RaAssignment,
    public link: Link,
    private readonly log: Logger,
    private readonly opts: RaOptions,
  ) {}

  start(): void {
    this.sock = Icmp6Socket.open({
      ifname: this.link.name,
      types: [ICMP6_ROUTER_SOLICIT, ICMP6_ROUTER_ADVERT],
      // RFC 4861 §6.2.2: an advertising interface joins the all-routers group (solicitations go there).
      groups: [ALL_ROUTERS],
      hopLimit: 255,
      source: ipv6Bytes(this.link.linkLocal),
    });
    this.poller = poll(
      this.sock,
      (p) => this.onPacket(p),
      (e) => {
        this.counters.receiveErrors++;
        this.log.warn({ err: e.message }, "receive failed");
      },
      { pollMs: this.opts.pollMs },
    );
    const r = this.assignment.resolved;
    this.schedule = new AdvertSchedule(
      r.interval.min * 1000,
      r.interval.max * 1000,
      Date.now(),
      this.opts.random,
    );
    this.log.info(
      { resource: this.assignment.name, linkLocal: this.link.linkLocal, interval: r.interval },
      "advertising",
    );
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.schedule.nextAt() - Date.now()));
  }

  private fire(): void {
    const now = Date.now();
    if (this.schedule.due(now)) {
      const solicited = this.schedule.hasPendingSolicitation(now);
      if (this.send(this.current(true))) {
        if (solicited) this.counters.advertisementsSolicited++;
        else this.counters.advertisementsUnsolicited++;
      }
      this.schedule.sent(now);
      if (this.withdrawnLeft > 0 && --this.withdrawnLeft === 0) this.withdrawn = [];
    }
    this.arm();
  }

  /** Our advertisement as configured now; with the withdrawn options while they are being sent. */
  private current(withWithdrawn: boolean): RouterAdvertisement {
    return buildAdvertisement(this.assignment, this.link, { withdrawn: withWithdrawn ? this.withdrawn : [] });
  }

  private send(ra: RouterAdvertisement): boolean {
    if (!this.sock) return false;
    try {
      this.sock.send(ALL_NODES, encodeRouterAdvertisement(ra));
      this.counters.advertisementsSent++;
      this.lastSent = Date.now();
      this.log.debug({ routerLifetime: ra.routerLifetime, options: ra.options.length }, "advertisement sent");
      return true;
    } catch (e) {
      this.counters.sendErrors++;
      this.log.warn({ err: (e as Error).message }, "sending the advertisement failed");
      return false;
    }
  }

  private onPacket(p: Icmp6Packet): void {
    const m = validateMessage(p);
    if (!m.ok) {
      this.counters.dropped++;
      if (this.log.isLevelEnabled("debug"))
        this.log.debug({ source: ipv6Text(p.source), reason: m.error }, "dropped");
      return;
    }
    if (m.value.kind === "rs") {
      this.counters.solicitationsReceived++;
      if (this.schedule.solicited(Date.now()) === "merged") this.counters.solicitationsMerged++;
      this.arm();
      return;
    }
    const source = ipv6Text(p.source);
    if (source === this.link.linkLocal) return; // our own, looped back
    this.counters.advertisementsReceived++;
    this.otherRouter(source, m.value.ra);
  }

  /** RFC 4861 §6.2.7: compare another router's advertisement with ours; log what changed. */
  private otherRouter(address: string, ra: RouterAdvertisement): void {
    const inconsistencies = compareAdvertisements(this.current(false), ra);
    const reported = inconsistencies.map(describeInconsistency).join("; ");
    let entry = this.others.get(address);
    if (!entry) {
      if (this.others.size >= MAX_OTHER_ROUTERS) {
        const oldest = [...this.others.values()].sort((a, b) => a.seen - b.seen)[0];
        if (oldest) this.others.delete(oldest.address);
      }
      entry = {
        address,
        lastSeen: "",
        seen: 0,
        routerLifetime: 0,
        preference: "medium",
        inconsistencies: [],
        reported: "",
      };
      this.others.set(address, entry);
      this.log.info(
        { router: address, routerLifetime: ra.routerLifetime, preference: ra.preference },
        "another router on the link",
      );
    }
    entry.seen = Date.now();
    entry.lastSeen = new Date(entry.seen).toISOString();
    entry.routerLifetime = ra.routerLifetime;
    entry.preference = ra.preference;
    entry.inconsistencies = inconsistencies;
    if (reported !== entry.reported) {
      entry.reported = reported;
      if (inconsistencies.length) {
        this.counters.inconsistenciesReported += inconsistencies.length;
        this.log.warn(
          { router: address, inconsistencies: inconsistencies.map(describeInconsistency) },
          "inconsistent advertisements on the link (RFC 4861 §6.2.7)",
        );
      } else {
        this.log.info({ router: address }, "advertisements consistent again");
      }
    }
  }

  reconfigure(a: RaAssignment): void {
    const before = this.current(true);
    this.assignment = a;
    const after = this.current(false);
    this.withdrawn = withdrawnOptions(before, after);
    this.withdrawnLeft = this.withdrawn.length ? MAX_INITIAL_RTR_ADVERTISEMENTS : 0;
    this.counters.configUpdates++;
    this.schedule.configChanged(Date.now(), a.resolved.interval.min * 1000, a.resolved.interval.max * 1000);
    this.log.info({ resource: a.name, withdrawn: this.withdrawn.length }, "configuration updated");
    this.arm();
  }

  async moveTo(a: RaAssignment, link: Link): Promise<void> {
    await this.stop();
    this.stopped = false;
    this.assignment = a;
    this.link = link;
    this.withdrawn = [];
    this.withdrawnLeft = 0;
    this.others.clear();
    this.counters.configUpdates++;
    this.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.poller?.stop();
    // RFC 4861 §6.2.5: a final advertisement with Router Lifetime 0 so hosts drop us as a default
    // router at once (one: further ones would have to wait MIN_DELAY_BETWEEN_RAS each).
    if (this.send(buildAdvertisement(this.assignment, this.link, { final: true })))
      this.counters.finalAdvertisementsSent++;
    this.sock?.close();
    this.sock = undefined;
    this.log.info({ sent: this.counters.advertisementsSent }, "stopped advertising");
  }

  stats(): Record<string, number> {
    let current = 0;
    for (const o of this.others.values()) current += o.inconsistencies.length;
    return { ...this.counters, otherRouters: this.others.size, inconsistencies: current };
  }

  status(): RaStatus {
    return {
      interface: this.link.name,
      linkLocal: this.link.linkLocal,
      advertising: !this.stopped,
      lastAdvertisement: this.lastSent === undefined ? undefined : new Date(this.lastSent).toISOString(),
      otherRouters: [...this.others.values()].map(({ seen: _s, reported: _r, ...o }) => o),
    };
  }
}
