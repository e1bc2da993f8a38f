// What the plan/apply flow needs from a vendor's transport.
import type { Change, Current, DesiredObject, InterfaceFacts, Removal } from "./model.ts";

/** What we remember about an object we put on a box and cannot find again by a mark. */
export interface LedgerEntry {
  id: string;
  path: string;
  key?: string;
  removal: Removal;
  /** the body as last applied (IOS-XE CLI objects cannot be read back, so this is their state) */
  body?: Record<string, unknown>;
}

export interface Ledger {
  device: string;
  entries: Record<string, LedgerEntry>;
}

export interface Probe {
  version: string;
  interfaces: InterfaceFacts[];
}

export interface ReadResult {
  current: Current;
  /** objects on the box (marked, or in the ledger) that no resource wants any more */
  orphans: DesiredObject[];
}

export interface Driver {
  readonly vendor: "fortios" | "iosxe";
  probe(): Promise<Probe>;
  read(desired: readonly DesiredObject[], ledger: Ledger): Promise<ReadResult>;
  /** one change; throws DeviceHttpError or DeviceApiError on failure */
  apply(change: Change, ledger: Ledger): Promise<void>;
  /** after a run that changed something (IOS-XE: save-config) */
  finish(changed: boolean): Promise<void>;
  /** requests sent so far */
  readonly requests: number;
  close(): void;
}

export class DeviceApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: number,
  ) {
    super(message);
  }
}

/** A ledger entry turned back into an object to remove. */
export function orphanFromLedger(e: LedgerEntry): DesiredObject {
  return {
    id: e.id,
    owners: [],
    path: e.path,
    key: e.key,
    body: e.body ?? {},
    dependsOn: [],
    ownership: "ledger",
    removal: e.removal,
  };
}
