// When to send Router Advertisements (RFC 4861 §6.2.4 and §6.2.6), as a pure state machine over
// a millisecond clock and a random source that the caller passes in. The service keeps one timer
// for `nextAt()`; tests drive it with a fake clock.

/** RFC 4861 §10, router constants. */
export const MAX_INITIAL_RTR_ADVERT_INTERVAL = 16_000;
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
export const MAX_FINAL_RTR_ADVERTISEMENTS = 3;
export const MIN_DELAY_BETWEEN_RAS = 3_000;
export const MAX_RA_DELAY_TIME = 500;

export type SolicitOutcome =
  /** a response is now scheduled */
  | "scheduled"
  /** an advertisement already due sooner answers it too */
  | "merged";

export class AdvertSchedule {
  private initialLeft = MAX_INITIAL_RTR_ADVERTISEMENTS;
  private lastMulticast: number | undefined;
  private nextUnsolicited: number;
  private pendingSolicited: number | undefined;

  /**
   * @param minMs MinRtrAdvInterval
   * @param maxMs MaxRtrAdvInterval
   * @param now the time the interface becomes an advertising interface; the first advertisement is
   *   sent at once (hosts that came up with the link hear us without soliciting)
   */
  constructor(
    private minMs: number,
    private maxMs: number,
    now: number,
    private readonly random: () => number = Math.random,
  ) {
    this.nextUnsolicited = now;
  }

  /** When the next advertisement is due. */
  nextAt(): number {
    return this.pendingSolicited === undefined
      ? this.nextUnsolicited
      : Math.min(this.nextUnsolicited, this.pendingSolicited);
  }

  /** Whether the advertisement due at `now` answers a solicitation. */
  hasPendingSolicitation(now: number): boolean {
    return this.pendingSolicited !== undefined && this.pendingSolicited <= now;
  }

  /** Whether one is due at `now`. */
  due(now: number): boolean {
    return now >= this.nextAt();
  }

  /**
   * A valid Router Solicitation arrived (RFC 4861 §6.2.6). The answer is multicast after a random
   * delay of 0 to MAX_RA_DELAY_TIME, no sooner than MIN_DELAY_BETWEEN_RAS after the previous
   * multicast advertisement, and folded into an advertisement already pending when that one
   * comes first; several solicitations share one answer timed from the first.
   */
  solicited(now: number): SolicitOutcome {
    if (this.pendingSolicited !== undefined) return "merged";
    const delay = this.random() * MAX_RA_DELAY_TIME;
    let at = now + delay;
    if (this.lastMulticast !== undefined && now - this.lastMulticast < MIN_DELAY_BETWEEN_RAS) {
      at = this.lastMulticast + MIN_DELAY_BETWEEN_RAS + delay;
    }
    if (at >= this.nextUnsolicited) return "merged";
    this.pendingSolicited = at;
    return "scheduled";
  }

  /**
   * A multicast advertisement went out at `now`: the unsolicited timer restarts at a random
   * interval in [MinRtrAdvInterval, MaxRtrAdvInterval], capped at MAX_INITIAL_RTR_ADVERT_INTERVAL
   * for the first MAX_INITIAL_RTR_ADVERTISEMENTS (RFC 4861 §6.2.4).
   */
  sent(now: number): void {
    this.lastMulticast = now;
    this.pendingSolicited = undefined;
    let interval = this.minMs + this.random() * (this.maxMs - this.minMs);
    if (this.initialLeft > 0) {
      this.initialLeft--;
      interval = Math.min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL);
    }
    this.nextUnsolicited = now + interval;
  }

  /**
   * The configuration changed (RFC 4861 §6.2.4: the router may send up to
   * MAX_INITIAL_RTR_ADVERTISEMENTS as if the interface had just become an advertising one): the
   * next advertisement goes out now, or MIN_DELAY_BETWEEN_RAS after the previous one.
   */
  configChanged(now: number, minMs = this.minMs, maxMs = this.maxMs): void {
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.initialLeft = MAX_INITIAL_RTR_ADVERTISEMENTS;
    const earliest =
      this.lastMulticast === undefined ? now : Math.max(now, this.lastMulticast + MIN_DELAY_BETWEEN_RAS);
    this.nextUnsolicited = Math.min(this.nextUnsolicited, earliest);
  }
}
