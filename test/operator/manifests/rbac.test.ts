// The agent's Role allows what the agent's own API calls need in the operator's namespace: a
// missing verb shows only on a real cluster, as a service that never starts (the DHCP lease store
// got 403 on ConfigMaps in test/cluster/seed.test.ts while every fake-API test passed).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentNamespaceRules } from "../../../src/operator/manifests/rbac.ts";

const allows = (group: string, resource: string, verb: string) =>
  agentNamespaceRules().some(
    (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
  );

describe("agentNamespaceRules", () => {
  for (const [group, resource, verbs, who] of [
    ["v6mostly.dev", "nodeconfigs", ["get", "list", "watch"], "its NodeConfig (sources/api.ts)"],
    ["v6mostly.dev", "nodeconfigs/status", ["patch"], "its report (agent/index.ts)"],
    ["coordination.k8s.io", "leases", ["get", "create", "update", "patch"], "heartbeat, ownership"],
    ["", "configmaps", ["get", "create", "update", "patch"], "the DHCP lease store (dhcp4/storeapi.ts)"],
  ] as const) {
    it(`allows ${verbs.join(", ")} on ${resource}: ${who}`, () => {
      for (const v of verbs) assert.ok(allows(group, resource, v), `${v} ${resource}`);
    });
  }

  it("reads its own DaemonSet by name, nothing else of apps (the owner of what it creates: --owner-daemonset)", () => {
    const apps = agentNamespaceRules().filter((r) => r.apiGroups.includes("apps"));
    assert.deepEqual(apps, [
      { apiGroups: ["apps"], resources: ["daemonsets"], resourceNames: ["v6mostly-agent"], verbs: ["get"] },
    ]);
  });

  it("allows nothing on Secrets", () => {
    for (const v of ["get", "list", "watch"]) assert.equal(allows("", "secrets", v), false);
  });
});
