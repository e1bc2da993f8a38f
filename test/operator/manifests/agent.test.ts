// The agent DaemonSet as a container runtime will take it: runc refuses a mount whose destination
// is inside /proc ("… cannot be mounted because it is inside /proc"), so a pod asking for one never
// starts (seen on the real node of test/cluster/seed.test.ts: CrashLoopBackOff on a /proc/sys/net
// hostPath); the agent gets /dev/net/tun, its state directory, the node's interface role lock
// directory (without it RA and DHCP never started: no /run on a read-only root), and the
// capabilities it needs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentDaemonSet } from "../../../src/operator/manifests/agent.ts";

type Pod = {
  hostNetwork: boolean;
  containers: {
    args: string[];
    volumeMounts: { name: string; mountPath: string }[];
    securityContext: { privileged: boolean; capabilities: { add: string[]; drop: string[] } };
  }[];
  volumes: { name: string; hostPath?: { path: string } }[];
};

const pod = (stateDir?: string) =>
  (
    agentDaemonSet("v6mostly-system", { image: "localhost/v6mostly:dev", stateDir }, []) as {
      spec: { template: { spec: Pod } };
    }
  ).spec.template.spec;

describe("agentDaemonSet", () => {
  it("mounts nothing inside /proc (runc refuses it and the pod never starts)", () => {
    for (const c of pod().containers)
      for (const m of c.volumeMounts)
        assert.ok(!/^\/proc(\/|$)/.test(m.mountPath), `${m.name} is mounted at ${m.mountPath}`);
  });

  it("gives the agent /dev/net/tun, its state and role lock directories on the node, capabilities instead of privileged", () => {
    const p = pod("/var/lib/v6m");
    const c = p.containers[0]!;
    assert.equal(p.hostNetwork, true);
    assert.deepEqual(
      c.volumeMounts.map((m) => m.mountPath),
      ["/dev/net/tun", "/var/lib/v6m", "/run/v6mostly"],
    );
    assert.deepEqual(
      p.volumes.map((v) => v.hostPath?.path),
      ["/dev/net/tun", "/var/lib/v6m", "/run/v6mostly"],
    );
    assert.equal(c.securityContext.privileged, false);
    assert.deepEqual(c.securityContext.capabilities, {
      drop: ["ALL"],
      add: ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"],
    });
  });

  it("names the DaemonSet as the owner of what the agent creates (helm uninstall removes it with it)", () => {
    const args = pod().containers[0]!.args;
    assert.equal(args[args.indexOf("--owner-daemonset") + 1], "v6mostly-agent");
  });
});
