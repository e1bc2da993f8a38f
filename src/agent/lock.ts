// One v6mostly per state directory, and one per link role on this host.
//
// A second `v6mostly run` on the same state directory would share the first one's lease journal
// and NAT64 plumbing ledger: its start would undo the first one's proxy ARP entries as "left by a
// crash". Two instances with different state directories on the same interface would both answer
// DHCP and both send Router Advertisements there. So:
// - `run` holds an exclusive lock on <state dir>/v6mostly.lock from before it touches anything
//   until it exits; a second start is refused, naming the directory and the holder's PID;
// - the RA and DHCP services hold a lock per interface role while they run,
//   <lock dir>/ra-<ifname>@netns-<inode>.lock and dhcp-... (lock dir: /run/v6mostly for root):
//   the service that finds the role taken does not start (condition InterfaceInUse, retried with
//   backoff), the others do.
//
// The locks are flock(2): the kernel drops them when the process ends, however it ends (kill -9
// included), so a stale lock file is never a problem and is never deleted. Node opens files
// close-on-exec, so the commands the services run do not inherit them. The holder writes its PID
// and what it is into the file, for the refusal message.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { AssignmentByKind } from "../planner/plan.ts";
import {
  type RunningService,
  type ServiceContext,
  ServiceError,
  type Starter,
  type Starters,
} from "../services/contract.ts";
import { EAGAIN, errno, flock, LOCK_EX, LOCK_NB, SysError } from "../util/sys/libc.ts";

/** What a lock file says about its holder. */
export interface Holder {
  pid?: number;
  /** e.g. "v6mostly run", "RouterAdvert/lan" */
  what?: string;
  stateDir?: string;
  since?: string;
}

export class HeldLock {
  constructor(
    readonly file: string,
    private fd: number,
  ) {}

  /** Lets the lock go (closing the descriptor releases the flock). */
  release(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * An exclusive flock(2) on `file` (created if missing), taken without waiting: the lock, or the
 * holder's record when another open file holds it (another process, or this one).
 */
export function tryLock(file: string, me: Omit<Holder, "pid" | "since">): HeldLock | { heldBy: Holder } {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const e = errno();
    fs.closeSync(fd);
    if (e !== EAGAIN) throw new SysError(`flock(${file})`, e);
    return { heldBy: readHolder(file) };
  }
  const record: Holder = { pid: process.pid, ...me, since: new Date().toISOString() };
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `${JSON.stringify(record)}\n`, 0);
  return new HeldLock(file, fd);
}

function readHolder(file: string): Holder {
  try {
    const h = JSON.parse(fs.readFileSync(file, "utf8")) as Holder;
    return typeof h === "object" && h !== null ? h : {};
  } catch {
    return {}; // the holder has not written its record yet
  }
}

function who(h: Holder): string {
  const parts = [h.pid !== undefined ? `PID ${h.pid}` : "PID unknown"];
  if (h.what) parts.push(h.what);
  if (h.stateDir) parts.push(`state directory ${h.stateDir}`);
  if (h.since) parts.push(`since ${h.since}`);
  return parts.join(", ");
}

export const STATE_LOCK = "v6mostly.lock";

/** The lock on a state directory (which must exist); throws with a message for people when it is held. */
export function lockStateDir(dir: string, what: string): HeldLock {
  const got = tryLock(path.join(dir, STATE_LOCK), { what, stateDir: path.resolve(dir) });
  if (got instanceof HeldLock) return got;
  throw new Error(
    `state directory ${dir} is in use by another v6mostly (${who(got.heldBy)}): stop that one first, or give this one its own --state-dir`,
  );
}

/** Where the interface role locks live: /run/v6mostly for root, a directory of the user's otherwise. */
export function roleLockDir(): string {
  if (process.getuid?.() === 0) return "/run/v6mostly";
  const base = process.env.XDG_RUNTIME_DIR || os.tmpdir();
  return path.join(base, `v6mostly-${process.getuid?.() ?? "user"}`);
}

/**
 * Interfaces are named per network namespace: a role lock file names the namespace by its inode,
 * the number `lsns -t net` and `readlink /proc/PID/ns/net` show.
 */
function netnsTag(): string {
  const ns = fs.statSync("/proc/self/ns/net", { throwIfNoEntry: false });
  return ns ? `@netns-${ns.ino}` : "";
}

export type Role = "ra" | "dhcp" | "edge";

const ROLE_WORDS: Record<Role, string> = {
  ra: "sends Router Advertisements",
  dhcp: "serves DHCPv4",
  // two nftables tables translating one outside link, and two responders answering for its addresses
  edge: "translates at the edge (EdgeTranslation)",
};

/** The role lock of one interface; throws ServiceError InterfaceInUse when another holder has it. */
export function lockInterfaceRole(
  role: Role,
  ifname: string,
  ctx: Pick<ServiceContext, "resource" | "stateDir">,
  dir = roleLockDir(),
): HeldLock {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, `${role}-${ifname}${netnsTag()}.lock`);
  const got = tryLock(file, { what: ctx.resource, stateDir: path.resolve(ctx.stateDir) });
  if (got instanceof HeldLock) return got;
  throw new ServiceError(
    "InterfaceInUse",
    `another v6mostly already ${ROLE_WORDS[role]} on ${ifname} (${who(got.heldBy)}; lock ${file}): two would both answer on the link`,
  );
}

/** A starter that holds the interface's role lock while its service runs, and moves it with the interface. */
function holdingRole<A>(role: Role, ifname: (a: A) => string, start: Starter<A>, dir?: string): Starter<A> {
  return async (a, ctx) => {
    let lock = lockInterfaceRole(role, ifname(a), ctx, dir);
    let svc: RunningService<A>;
    try {
      svc = await start(a, ctx);
    } catch (e) {
      lock.release();
      throw e;
    }
    let held = ifname(a);
    const update = svc.update?.bind(svc);
    return {
      async stop() {
        try {
          await svc.stop();
        } finally {
          lock.release();
        }
      },
      ...(update && {
        async update(next: A) {
          if (ifname(next) === held) return update(next);
          // another interface: its lock first (refused: the runtime restarts the service, whose
          // start then waits for the role like any other)
          const moved = lockInterfaceRole(role, ifname(next), ctx, dir);
          try {
            await update(next);
          } catch (e) {
            moved.release();
            throw e;
          }
          lock.release();
          lock = moved;
          held = ifname(next);
        },
      }),
      stats: () => svc.stats(),
      ...(svc.conditions && { conditions: () => svc.conditions!() }),
      ...(svc.health && { health: () => svc.health!() }),
    };
  };
}

/**
 * The starters, with RA and DHCP each holding its interface's role lock while it runs, and an
 * EdgeTranslation its outside interface's.
 */
export function withInterfaceRoles(s: Starters, dir?: string): Starters {
  const ra = s.RouterAdvert;
  const dhcp = s.DhcpScope;
  const edge = s.EdgeTranslation;
  return {
    ...s,
    ...(ra && {
      RouterAdvert: holdingRole<AssignmentByKind["RouterAdvert"]>("ra", (a) => a.spec.interface, ra, dir),
    }),
    ...(dhcp && {
      DhcpScope: holdingRole<AssignmentByKind["DhcpScope"]>("dhcp", (a) => a.spec.interface, dhcp, dir),
    }),
    ...(edge && {
      EdgeTranslation: holdingRole<AssignmentByKind["EdgeTranslation"]>(
        "edge",
        (a) => a.spec.outsideInterface,
        edge,
        dir,
      ),
    }),
  };
}
