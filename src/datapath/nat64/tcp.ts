/**
 * The TCP session state machine of RFC 6146 §3.5.2.2, as a pure function of
 * (state, packet event) → (next state, which timer to (re)arm).
 */

import { namesByCode } from "../../util/codes.ts";

export const TcpState = {
  Closed: 0,
  V4Init: 1,
  V6Init: 2,
  Established: 3,
  V4FinRcv: 4,
  V6FinRcv: 5,
  V4FinV6FinRcv: 6,
  Trans: 7,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

/** State names by code, spelled as RFC 6146 §3.5.2.2 does ("V4FinV6FinRcv" → "V4_FIN_V6_FIN_RCV"). */
export const tcpStateName: readonly string[] = namesByCode(TcpState).map((n) =>
  n.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase(),
);

/** Which lifetime the session gets after the packet (RFC 6146 §3.5.2.2). */
export const TcpTimer = {
  /** Leave the expiry time as it is. */
  Keep: 0,
  /** TCP_TRANS (at least 4 minutes). */
  Trans: 1,
  /** TCP_EST (at least 2 hours 4 minutes). */
  Est: 2,
  /** TCP_INCOMING_SYN (6 seconds): an IPv4-initiated connection waiting for the IPv6 SYN. */
  IncomingSyn: 3,
} as const;
export type TcpTimer = (typeof TcpTimer)[keyof typeof TcpTimer];

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;

/** Packed result: next state in the low byte, timer in the next. */
export function tcpTransition(state: number, fromV6: boolean, flags: number): number {
  const syn = (flags & TCP_SYN) !== 0;
  const fin = (flags & TCP_FIN) !== 0;
  const rst = (flags & TCP_RST) !== 0;
  const r = (s: number, t: number) => s | (t << 8);
  switch (state) {
    case TcpState.Closed:
      // A session is only created by a SYN: V6 SYN → V6 INIT; V4 SYN → V4 INIT.
      if (syn) return fromV6 ? r(TcpState.V6Init, TcpTimer.Trans) : r(TcpState.V4Init, TcpTimer.IncomingSyn);
      return r(TcpState.Closed, TcpTimer.Keep);
    case TcpState.V4Init:
      // V6 SYN → ESTABLISHED (also the simultaneous-open completion).
      if (fromV6 && syn) return r(TcpState.Established, TcpTimer.Est);
      return r(TcpState.V4Init, TcpTimer.Keep);
    case TcpState.V6Init:
      if (!fromV6 && syn) return r(TcpState.Established, TcpTimer.Est);
      if (fromV6 && syn) return r(TcpState.V6Init, TcpTimer.Trans);
      return r(TcpState.V6Init, TcpTimer.Keep);
    case TcpState.Established:
      if (rst) return r(TcpState.Trans, TcpTimer.Trans);
      if (fin) return r(fromV6 ? TcpState.V6FinRcv : TcpState.V4FinRcv, TcpTimer.Keep);
      return r(TcpState.Established, TcpTimer.Est);
    case TcpState.V4FinRcv:
      if (fromV6 && fin) return r(TcpState.V4FinV6FinRcv, TcpTimer.Trans);
      return r(TcpState.V4FinRcv, TcpTimer.Est);
    case TcpState.V6FinRcv:
      if (!fromV6 && fin) return r(TcpState.V4FinV6FinRcv, TcpTimer.Trans);
      return r(TcpState.V6FinRcv, TcpTimer.Est);
    case TcpState.V4FinV6FinRcv:
      // Packets are translated; the lifetime is not refreshed.
      return r(TcpState.V4FinV6FinRcv, TcpTimer.Keep);
    case TcpState.Trans:
      if (rst) return r(TcpState.Trans, TcpTimer.Keep);
      return r(TcpState.Established, TcpTimer.Est);
    default:
      return r(state, TcpTimer.Keep);
  }
}
