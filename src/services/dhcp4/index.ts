// The DHCPv4 service (RFC 2131, RFC 2132, RFC 8925 option 108) for one DhcpScope:
// `startDhcpScope(assignment, ctx)` opens the lease store under ctx.stateDir, loads it and serves
// the scope's interface until stop().
import type { DhcpAssignment } from "../../planner/plan.ts";
import type { RunningService, ServiceContext } from "../contract.ts";
import { compileScope } from "./scope.ts";
import { Dhcp4Server, interfaceAddress } from "./server.ts";
import { FileLeaseStore, type LeaseStore } from "./store.ts";
import { formatAddr } from "./wire.ts";

export interface DhcpService extends RunningService<DhcpAssignment> {
  update(a: DhcpAssignment): Promise<void>;
}

export interface DhcpOptions {
  /** another lease back end (cluster mode); default: a journal file under ctx.stateDir */
  store?: LeaseStore;
}

function serverAddress(a: DhcpAssignment): number {
  const want = a.spec.serverAddress;
  if (want !== undefined) {
    // spec.serverAddress: that address, on the interface (in cluster mode the ownership gate put it there)
    const id = interfaceAddress(a.spec.interface, Number(want.value) >>> 0, 0xffffffff);
    if (id === undefined)
      throw new Error(
        `DhcpScope ${a.name}: interface ${a.spec.interface} does not have serverAddress ${want}; the server needs it (it is option 54 and the source of replies)`,
      );
    return id;
  }
  const probe = compileScope(a, 0);
  const id = interfaceAddress(a.spec.interface, probe.network, probe.mask);
  if (id === undefined) {
    throw new Error(
      `DhcpScope ${a.name}: interface ${a.spec.interface} has no IPv4 address in ${a.spec.subnet}; the server needs one (it is option 54 and the source of replies)`,
    );
  }
  return id;
}

export async function startDhcpScope(
  a: DhcpAssignment,
  ctx: ServiceContext,
  opts: DhcpOptions = {},
): Promise<DhcpService> {
  const log = ctx.log.child({ service: "dhcp4", scope: a.name, interface: a.spec.interface });
  let scope = compileScope(a, serverAddress(a));
  const store = opts.store ?? new FileLeaseStore(ctx.stateDir, a.name);
  const leases = await store.load();
  let server = new Dhcp4Server(scope, store, log);
  server.load(leases);
  try {
    await server.start();
  } catch (e) {
    await store.close();
    throw e;
  }
  log.info(
    { serverId: formatAddr(scope.serverId), leases: leases.length, v6OnlyWait: scope.v6OnlyWait ?? null },
    "dhcp4 serving",
  );
  return {
    async stop() {
      await server.stop();
      await store.close();
      log.info("dhcp4 stopped");
    },
    async update(next: DhcpAssignment) {
      const nextScope = compileScope(next, serverAddress(next));
      if (nextScope.interface !== scope.interface || nextScope.network !== scope.network) {
        await server.stop();
        const kept = [...server.table.leases()];
        server = new Dhcp4Server(nextScope, store, log);
        server.load(kept);
        await server.start();
      } else server.setScope(nextScope);
      scope = nextScope;
    },
    stats: () => server.stats(),
  };
}
