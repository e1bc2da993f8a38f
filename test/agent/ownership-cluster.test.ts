// "The DHCP active node dies -> another node serves the scope and no address is handed out twice"
// (issue 14), on a real kube-apiserver (test/cluster) with real processes:
// - three node namespaces run `v6mostly agent` (least-privilege ServiceAccount identity), each fed
//   by a NodeConfig written as the operator writes it (the planner's assignments in wire form);
// - they share a LAN bridge with client namespaces; the DhcpScope (serverAddress 192.0.2.2) and a
//   Dns64Resolver listening on 192.0.2.53 and fd00:64:1::53 are owned: one node at a time;
// - udhcpc in a client namespace gets a lease from node A, dig gets answers from A;
// - node A's agent is killed with SIGKILL (nothing withdrawn: its addresses expire in its kernel);
// - another node takes the Leases, adds the addresses, announces them (the client's neighbour
//   table shows the new MAC before the client sends anything), and serves with A's leases: the
//   first client's RENEW is ACKed with its address, a second client gets another one, DNS answers.
// Prints the times from the kill and the leases carried over.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { NODE_CONFIG_RESOURCE, nodeConfigCrd } from "../../src/api/nodeconfig.ts";
import { agentNamespaceRules } from "../../src/operator/manifests/rbac.ts";
import { CORE, KubeClient, type KubeObject } from "../../src/operator/runtime/client.ts";
import { plan } from "../../src/planner/plan.ts";
import { encodeAssignment } from "../../src/planner/wire.ts";
import { leaseStoreName } from "../../src/services/dhcp4/storeapi.ts";
import {
  type ControlPlane,
  controlPlaneAvailable,
  type NodeNamespace,
  serviceAccount,
  startControlPlane,
} from "../cluster/controlplane.ts";
import type { Daemon } from "../cluster/netns.ts";
import { doc, validateText } from "../support/validate.ts";
import { Lan, sh } from "./support/lan.ts";

const REPO = resolve(fileURLToPath(import.meta.url), "../../..");
const NS = "v6mostly";
const OWNER_LEASE_S = 6;
const tools = ["udhcpc", "dig", "ping"].find((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
const why = controlPlaneAvailable() ?? (tools ? `${tools} is not installed` : undefined);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

const RESOURCES = [
  doc(
    "DhcpScope",
    "lan",
    `interface: lan0
subnet: 192.0.2.0/24
ranges: ["192.0.2.100-192.0.2.199"]
serverAddress: 192.0.2.2
router: 192.0.2.1
dnsServers: ["192.0.2.53"]
leaseTime: 10m`,
  ),
  doc(
    "Dns64Resolver",
    "lan",
    `listen: ["192.0.2.53:53", "[fd00:64:1::53]:53"]
prefix: 64:ff9b::/96
upstreams: ["192.0.2.1"]
allowClients: ["192.0.2.0/24", "fd00:64:1::/64"]`,
  ),
].join("---\n");

/** What the agent's ServiceAccount may do in the operator's namespace: the chart's rules, no more. */
const AGENT_RULES = agentNamespaceRules();

const NODES = [
  { name: "node-a", mac: "02:00:5e:10:00:0a", v4: "192.0.2.11/24", v6: "fd00:64:1::11/64" },
  { name: "node-b", mac: "02:00:5e:10:00:0b", v4: "192.0.2.12/24", v6: "fd00:64:1::12/64" },
  { name: "node-c", mac: "02:00:5e:10:00:0c", v4: "192.0.2.13/24", v6: "fd00:64:1::13/64" },
];
const macOf = (node: string) => NODES.find((n) => n.name === node)!.mac;

describe("owned DHCP scope and DNS64 addresses move when the active node dies", { skip: why }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  let lan: Lan;
  let dir: string;
  const nodes = new Map<string, NodeNamespace>();
  const agents = new Map<string, Daemon>();
  const clients: ChildProcess[] = [];

  const leaseHolder = async (name: string) => {
    const l = await admin.find<KubeObject & { spec?: { holderIdentity?: string } }>(CORE.leases, NS, name);
    return l?.spec?.holderIdentity ?? undefined;
  };
  const has = (ns: string, address: string) => lan.addresses(ns, "lan0").some((a) => a.local === address);

  function startAgent(name: string): Daemon {
    const node = nodes.get(name)!;
    const kubeconfig = cp.kubeconfigAs(serviceAccount(NS, "v6mostly-agent"), node.netns);
    const d = cp.spawn(
      `agent-${name}`,
      [
        process.execPath,
        "--import",
        "tsx",
        "src/cli/main.ts",
        "agent",
        "--node-name",
        name,
        "--namespace",
        NS,
        "--state-dir",
        join(dir, name),
        "--status-address",
        "off",
        "--owner-lease",
        `${OWNER_LEASE_S}s`,
      ],
      { ns: node.netns, cwd: REPO, env: { KUBECONFIG: kubeconfig, V6MOSTLY_LOG_LEVEL: "info" } },
    );
    agents.set(name, d);
    return d;
  }

  /** Each node's report for a resource: Ready and Owner conditions (reason). */
  async function report(node: string, kind: string) {
    const nc = await admin.find<
      KubeObject & {
        status?: {
          resources?: { kind: string; conditions: { type: string; status: string; reason: string }[] }[];
        };
      }
    >(NODE_CONFIG_RESOURCE, NS, node);
    const r = nc?.status?.resources?.find((x) => x.kind === kind);
    const c = (t: string) => r?.conditions.find((x) => x.type === t);
    return r
      ? { ready: `${c("Ready")?.status}/${c("Ready")?.reason}`, owner: c("Owner")?.reason }
      : undefined;
  }

  function udhcpc(ns: string, log: string): ChildProcess {
    const script = join(dir, "udhcpc.sh");
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns,
        "env",
        `LOGFILE=${log}`,
        "udhcpc",
        "-f",
        "-i",
        "eth0",
        "-s",
        script,
        "-t",
        "10",
        "-T",
        "1",
      ],
      { stdio: "ignore" },
    );
    clients.push(child);
    return child;
  }
  const events = (log: string) => {
    try {
      return readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  const field = (line: string, k: string) => new RegExp(`${k}=(\\S*)`).exec(line)?.[1] ?? "";

  function dig(ns: string, server: string): string | undefined {
    const r = spawnSync(
      "ip",
      ["netns", "exec", ns, "dig", "+short", "+time=1", "+tries=1", `@${server}`, "ipv4only.arpa", "AAAA"],
      { encoding: "utf8" },
    );
    const answers = r.stdout
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("64:ff9b::"));
    return r.status === 0 && answers.length ? answers.sort().join(" ") : undefined;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "v6m-own-cluster-"));
    writeFileSync(
      join(dir, "udhcpc.sh"),
      `#!/bin/sh
echo "$1 ip=$ip serverid=$serverid lease=$lease" >> "$LOGFILE"
case "$1" in
  bound|renew) ip addr replace "$ip/$mask" dev "$interface" ;;
  deconfig) ip -4 addr flush dev "$interface" ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
    cp = await startControlPlane({ name: "owner" });
    admin = await KubeClient.load(cp.kubeconfig);
    await admin.create(
      { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
      {
        metadata: { name: NS },
      },
    );
    await admin.create(
      {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
      },
      nodeConfigCrd() as KubeObject,
    );
    await until("NodeConfigs served", async () => {
      try {
        await admin.list(NODE_CONFIG_RESOURCE, NS);
        return true;
      } catch {
        return undefined;
      }
    });
    const rbac = (plural: string, kind: string) => ({
      group: "rbac.authorization.k8s.io",
      version: "v1",
      plural,
      kind,
      namespaced: true,
    });
    await admin.create(rbac("roles", "Role"), {
      metadata: { name: "v6mostly-agent", namespace: NS },
      rules: AGENT_RULES,
    });
    await admin.create(rbac("rolebindings", "RoleBinding"), {
      metadata: { name: "v6mostly-agent", namespace: NS },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "v6mostly-agent" },
      subjects: [{ kind: "ServiceAccount", name: "v6mostly-agent", namespace: NS }],
    });

    lan = new Lan("cl");
    for (const n of NODES) {
      const node = await cp.addNodeNamespace(n.name);
      nodes.set(n.name, node);
      lan.plug(node.netns, "lan0", n.mac, [n.v4, n.v6]);
    }
    // the NodeConfigs, as the operator writes them: the plan over the three nodes, in wire form
    const v = validateText(RESOURCES);
    assert.deepEqual(v.errors, []);
    const p = plan(v.resources, { nodes: NODES.map((n) => ({ name: n.name, labels: {} })) });
    assert.deepEqual(p.conflicts, []);
    for (const t of p.nodes) {
      assert.equal(t.assignments.length, 2, `${t.name} is a candidate for both`);
      const assignments = t.assignments.map((a) => encodeAssignment(a) as unknown);
      await admin.create(NODE_CONFIG_RESOURCE, {
        apiVersion: "v6mostly.dev/v1alpha1",
        kind: "NodeConfig",
        metadata: { name: t.name, namespace: NS },
        spec: { count: assignments.length, assignments },
      });
    }
  });

  after(async () => {
    for (const c of clients) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
    await cp?.stop();
    lan?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves from node A, then from another node after A's agent is killed, with A's leases", async (t) => {
    const dhcpLease = "v6mostly-owner-default-dhcpscope-lan";
    const dnsLease = "v6mostly-owner-default-dns64resolver-lan";
    const netns = (n: string) => nodes.get(n)!.netns;

    // A alone: it wins both Leases and carries the addresses
    startAgent("node-a");
    await until("node A serves", async () =>
      (await leaseHolder(dhcpLease)) === "node-a" &&
      (await leaseHolder(dnsLease)) === "node-a" &&
      has(netns("node-a"), "192.0.2.2") &&
      has(netns("node-a"), "192.0.2.53") &&
      has(netns("node-a"), "fd00:64:1::53")
        ? true
        : undefined,
    );
    startAgent("node-b");
    startAgent("node-c");
    for (const n of ["node-b", "node-c"]) {
      await until(`${n} stands by`, async () => {
        const d = await report(n, "DhcpScope");
        const s = await report(n, "Dns64Resolver");
        return d?.ready === "True/Standby" && s?.ready === "True/Standby" ? true : undefined;
      });
    }
    // the report is written on change and every few seconds: wait for the one after activation
    // (one CI run saw A report Running, then Activating a moment later; the agent's log says why)
    await until("node A reports the scope running and owned", async () => {
      const r = await report("node-a", "DhcpScope");
      return r?.ready === "True/Running" && r.owner === "Active" ? r : undefined;
    });
    const aLog = readFileSync(agents.get("node-a")!.log, "utf8");
    const elected = aLog.split("\n").filter((l) => l.includes('"became leader"')).length;
    if (elected !== 2)
      t.diagnostic(`node A became leader ${elected} times for 2 Leases:\n${agents.get("node-a")!.tail(60)}`);

    // a client gets a lease from A and talks to both owned addresses
    const c1 = lan.host("client1");
    lan.plug(c1, "eth0", "02:00:5e:10:00:c1", ["fd00:64:1::c1/64"]);
    const log1 = join(dir, "client1.log");
    const u1 = udhcpc(c1, log1);
    const bound1 = await until("client 1 bound", () => events(log1).find((l) => l.startsWith("bound")));
    const addr1 = field(bound1, "ip");
    assert.equal(field(bound1, "serverid"), "192.0.2.2");
    assert.ok(dig(c1, "192.0.2.53"), "DNS64 answers on 192.0.2.53");
    assert.ok(dig(c1, "fd00:64:1::53"), "DNS64 answers on fd00:64:1::53");
    sh(c1, ["ping", "-c", "1", "-W", "2", "192.0.2.2"]);
    for (const a of ["192.0.2.2", "192.0.2.53", "fd00:64:1::53"])
      assert.equal(lan.neighbour(c1, a)?.lladdr, macOf("node-a"), `${a} at A's MAC`);
    await sleep(1100); // past the neighbour entries' locktime

    // A's agent dies: nothing is withdrawn
    const killed = Date.now();
    await agents.get("node-a")!.stop("SIGKILL");
    const at: Record<string, number> = {};
    const mark = (k: string, cond: boolean) => {
      if (cond && at[k] === undefined) at[k] = Date.now() - killed;
    };
    let dhcpOwner = "";
    let dnsOwner = "";
    await until(
      "another node serves",
      async () => {
        const d = await leaseHolder(dhcpLease);
        const s = await leaseHolder(dnsLease);
        if (d && d !== "node-a") dhcpOwner = d;
        if (s && s !== "node-a") dnsOwner = s;
        mark("dhcpLease", dhcpOwner !== "");
        mark("dnsLease", dnsOwner !== "");
        mark("aAddressesExpired", !has(netns("node-a"), "192.0.2.2") && !has(netns("node-a"), "192.0.2.53"));
        mark("serverAddressUp", dhcpOwner !== "" && has(netns(dhcpOwner), "192.0.2.2"));
        mark("neighbourV4", dhcpOwner !== "" && lan.neighbour(c1, "192.0.2.2")?.lladdr === macOf(dhcpOwner));
        mark(
          "neighbourDns",
          dnsOwner !== "" &&
            lan.neighbour(c1, "192.0.2.53")?.lladdr === macOf(dnsOwner) &&
            lan.neighbour(c1, "fd00:64:1::53")?.lladdr === macOf(dnsOwner),
        );
        return [
          "dhcpLease",
          "dnsLease",
          "aAddressesExpired",
          "serverAddressUp",
          "neighbourV4",
          "neighbourDns",
        ].every((k) => at[k] !== undefined)
          ? true
          : undefined;
      },
      OWNER_LEASE_S * 1000 * 4,
    );
    assert.ok(
      at.aAddressesExpired! <= at.serverAddressUp!,
      "A's kernel dropped the addresses before they moved",
    );

    // DNS: answered by the new owner
    const answer = await until("DNS64 answers after the move", () => dig(c1, "192.0.2.53"));
    at.dnsAnswered = Date.now() - killed;
    assert.equal(dig(c1, "fd00:64:1::53"), answer);

    // DHCP: the new owner took A's leases over: a second client never gets the first client's
    // address (asked before the first one renews, so only the store can tell), and the first
    // client's RENEW is ACKed with its address
    const cm = await admin.get<KubeObject & { data: Record<string, string> }>(
      CORE.configmaps,
      NS,
      leaseStoreName({ namespace: "default", name: "lan" }),
    );
    assert.equal(cm.data.holder, dhcpOwner);
    const carried = Number(
      /"leases":(\d+)[^\n]*dhcp4 leases taken over/.exec(
        readFileSync(agents.get(dhcpOwner)!.log, "utf8"),
      )?.[1],
    );
    assert.equal(carried, 1, "the new owner loaded the one lease A handed out");
    const c2 = lan.host("client2");
    lan.plug(c2, "eth0", "02:00:5e:10:00:c2");
    const log2 = join(dir, "client2.log");
    udhcpc(c2, log2);
    const bound2 = await until("client 2 bound", () => events(log2).find((l) => l.startsWith("bound")));
    const addr2 = field(bound2, "ip");
    assert.notEqual(addr2, addr1, "no address handed out twice");

    const asked = Date.now();
    u1.kill("SIGUSR1"); // udhcpc: renew now (a unicast REQUEST to serverid 192.0.2.2)
    const renewed = await until("client 1 renewed", () =>
      events(log1).find((l) => l.startsWith("renew") && field(l, "ip") === addr1),
    );
    at.renewAckedAfterAsking = Date.now() - asked;
    assert.equal(field(renewed, "serverid"), "192.0.2.2");

    const stored = cm.data.leases!.trim().split("\n").length;
    process.stdout.write(
      `# kill -9 of node-a's agent at 0 ms (Lease ${OWNER_LEASE_S} s): A's addresses expired in its kernel at ${at.aAddressesExpired} ms; ` +
        `DHCP Lease to ${dhcpOwner} at ${at.dhcpLease} ms, 192.0.2.2 up there at ${at.serverAddressUp} ms, client's ARP entry on its MAC at ${at.neighbourV4} ms; ` +
        `DNS64 Lease to ${dnsOwner} at ${at.dnsLease} ms, client's entries moved at ${at.neighbourDns} ms, first answer at ${at.dnsAnswered} ms; ` +
        `leases carried over: ${carried} (ConfigMap held ${stored}); RENEW ACKed ${at.renewAckedAfterAsking} ms after asking, same address ${addr1}; second client got ${addr2}\n`,
    );
    // the survivors: one active, one standby, for each
    const others = ["node-b", "node-c"];
    await until("statuses settle", async () => {
      const reps = await Promise.all(others.map((n) => report(n, "DhcpScope")));
      return reps.filter((r) => r?.owner === "Active").length === 1 &&
        reps.filter((r) => r?.ready === "True/Standby").length === 1
        ? true
        : undefined;
    });
  });
});
