// `v6mostly plan -f PATH... [--nodes FILE] [-o json]`
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { formatDuration } from "../../api/duration.ts";
import type { EdgeTranslationSpec } from "../../api/edgetranslation.ts";
import { describeFsError, parseDocuments } from "../../api/load.ts";
import { formatProblem, validatePaths } from "../../api/validate.ts";
import { localNode, type NodeInfo, nodesFrom } from "../../planner/nodes.ts";
import { type Assignment, type Plan, plan } from "../../planner/plan.ts";
import { tableName } from "../../services/edge/ruleset.ts";
import { table } from "../output.ts";

export function register(program: Command): void {
  program
    .command("plan")
    .description("show what runs on which node or device, with pool4 shares and conflicts")
    .requiredOption("-f, --filename <path...>", "YAML/JSON files or folders")
    .option(
      "--nodes <file>",
      "cluster mode: nodes and labels (`kubectl get nodes -o yaml`, or [{name, labels}])",
    )
    .option("-o, --output <format>", "table or json", "table")
    .addHelpText(
      "after",
      `
Without --nodes the plan is for standalone mode: everything without a deviceRef runs on this host
(nodeSelector is ignored), as \`v6mostly run\` would run it.

With --nodes, each resource runs on the nodes its nodeSelector matches; a stateful Nat64Gateway's
pool4 is split between them so that a node joining or leaving moves only its own share.

Exit status: 0 when the plan has no conflicts, 1 on invalid resources or conflicts.

Examples:
  v6mostly plan -f examples/seed/
  kubectl get nodes -o yaml > nodes.yaml && v6mostly plan -f home.yaml --nodes nodes.yaml -o json`,
    )
    .action((opts: { filename: string[]; nodes?: string; output: string }) => {
      if (opts.output !== "table" && opts.output !== "json") {
        throw new Error(`--output must be table or json, not "${opts.output}"`);
      }
      const { resources, problems } = validatePaths(opts.filename);
      const errors = problems.filter((p) => p.severity === "error");
      for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
      if (errors.length > 0) {
        process.stderr.write(
          `${errors.length} problem${errors.length === 1 ? "" : "s"} found; no plan made\n`,
        );
        process.exitCode = 1;
        return;
      }
      let nodes: NodeInfo[] | undefined;
      if (opts.nodes) {
        nodes = readNodes(opts.nodes);
        if (!nodes) {
          process.exitCode = 1;
          return;
        }
      }
      const result = plan(resources, nodes ? { nodes } : { standaloneNode: localNode().name });
      process.stdout.write(
        opts.output === "json" ? `${JSON.stringify(result, null, 2)}\n` : `${renderPlan(result)}\n`,
      );
      if (result.conflicts.length > 0) process.exitCode = 1;
    });
}

function readNodes(file: string): NodeInfo[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    process.stderr.write(`${file}: ${describeFsError(e)}\n`);
    return undefined;
  }
  const docs = parseDocuments(file, text);
  const bad = docs.find((d) => d.error);
  if (bad) {
    process.stderr.write(`${file}: ${bad.error}\n`);
    return undefined;
  }
  // parseDocuments splits a List (kubectl get nodes -o yaml) and a JSON array into one document per
  // node; a YAML list stays one document; one mapping may be { nodes: [...] } or a single Node
  const values = docs.flatMap((d) => (Array.isArray(d.value) ? d.value : [d.value]));
  const only = values.length === 1 ? values[0] : undefined;
  const wrapper = typeof only === "object" && only !== null && !("name" in only) && !("metadata" in only);
  const nodes = nodesFrom(wrapper ? only : values);
  if (!nodes.ok) {
    process.stderr.write(`${file}: ${nodes.error}\n`);
    return undefined;
  }
  return nodes.nodes;
}

/** One line per assignment, then conflicts and what could not be placed. */
export function renderPlan(p: Plan): string {
  const rows: string[][] = [];
  for (const n of p.nodes) {
    if (n.assignments.length === 0) rows.push([`node ${n.name}`, "-", "nothing to run"]);
    for (const a of n.assignments)
      rows.push([`node ${n.name}`, `${a.kind}/${a.name}`, describe(a) + owned(a)]);
  }
  for (const d of p.devices) {
    for (const a of d.assignments) {
      rows.push([
        `device ${d.name} (${d.vendor}${d.version ? ` ${d.version}` : ""})`,
        `${a.kind}/${a.name}`,
        describe(a, true),
      ]);
    }
  }
  const out = [`${p.mode} plan`, "", table(["WHERE", "RESOURCE", "WHAT"], rows)];
  if (p.conflicts.length > 0) {
    out.push("", "Conflicts (the first resource is left out there; the second keeps its place):");
    for (const c of p.conflicts) {
      out.push(
        `  ${c.source.file}#${c.source.doc} ${c.resource}${c.where ? ` on ${c.where}` : ""}: ${c.message}`,
      );
    }
  }
  if (p.unplaced.length > 0) {
    out.push("", "Not placed anywhere:");
    for (const u of p.unplaced) out.push(`  ${u.source.file}#${u.source.doc} ${u.resource}: ${u.reason}`);
  }
  return out.join("\n");
}

/** Cluster mode: one candidate at a time serves it (src/agent/ownership). */
function owned(a: Assignment): string {
  if (!("owner" in a) || !a.owner) return "";
  const n = a.owner.addresses.length;
  const moving = n ? `, ${a.owner.addresses.join(" ")} ${n === 1 ? "moves" : "move"} with it` : "";
  return `; candidate: the holder of Lease ${a.owner.lease} serves${moving}`;
}

/** What an assignment does, in words; on a device there is no TUN device and no uplink of ours. */
function describe(a: Assignment, onDevice = false): string {
  switch (a.kind) {
    case "Nat64Gateway": {
      const s = a.spec;
      const tun = onDevice ? "" : `, tun ${s.tunName}`;
      if (s.mode === "stateless") {
        return `SIIT ${s.prefix}${s.eamt.length ? `, ${s.eamt.length} EAMT entr${s.eamt.length === 1 ? "y" : "ies"}` : ""}${tun}`;
      }
      const share =
        a.pool4Count === a.pool4Total
          ? `${a.pool4Count} addresses`
          : `${a.pool4Count} of ${a.pool4Total} addresses`;
      return `NAT64 ${s.prefix} -> pool4 ${a.pool4.join(", ") || "(none)"} (${share})${tun}${s.uplinkInterface && !onDevice ? `, uplink ${s.uplinkInterface}` : ""}`;
    }
    case "Dns64Resolver":
      return `DNS64 ${a.prefix} on ${a.spec.listen.join(", ")} -> ${a.spec.upstreams.join(", ")}${a.spec.alwaysSynthesize ? ", always synthesize" : ""}`;
    case "RouterAdvert": {
      const r = a.resolved;
      const parts = [
        `RA on ${a.spec.interface} every ${formatDuration(r.interval.min)}-${formatDuration(r.interval.max)}`,
      ];
      if (a.spec.prefixes.length) parts.push(`prefix ${a.spec.prefixes.map((x) => x.prefix).join(" ")}`);
      if (r.rdnss.length) parts.push(`RDNSS ${r.rdnss.map((x) => x.address).join(" ")}`);
      if (r.pref64) parts.push(`PREF64 ${r.pref64.prefix} (${formatDuration(r.pref64.lifetime)})`);
      if (r.routes.length) parts.push(`routes ${r.routes.map((x) => x.prefix).join(" ")}`);
      parts.push(
        a.spec.defaultRouter.lifetime === 0
          ? "not a default router"
          : `default router ${formatDuration(a.spec.defaultRouter.lifetime)}`,
      );
      return parts.join(", ");
    }
    case "DhcpScope": {
      const s = a.spec;
      const v6only =
        s.ipv6OnlyPreferred !== undefined ? `, option 108 ${formatDuration(s.ipv6OnlyPreferred)}` : "";
      return `DHCPv4 on ${s.interface} ${s.subnet} ranges ${s.ranges.join(", ")}, lease ${formatDuration(s.leaseTime)}${v6only}`;
    }
    case "EdgeTranslation":
      // on a Linux node: nftables through `nft` (src/services/edge)
      return describeEdge(a.spec) + (onDevice ? "" : `; nftables table inet ${tableName(a)}`);
  }
}

/** `lan1 -> wan1: SNAT44 pool 192.0.2.151-192.0.2.200 one-to-one, DNAT44 ...` */
function describeEdge(s: EdgeTranslationSpec): string {
  const parts: string[] = [];
  if (s.snat44) {
    const to = s.snat44.pool.length ? `pool ${s.snat44.pool.join(" ")}` : `${s.outsideInterface}'s address`;
    parts.push(`SNAT44 ${to} ${s.snat44.mode === "oneToOne" ? "one-to-one" : "overload"}`);
  }
  for (const m of s.dnat44) parts.push(`DNAT44 ${m.external} -> ${m.internal}`);
  if (s.snat66) {
    const n = s.snat66.nptv6;
    if (n) parts.push(`NPTv6 ${n.inside} <-> ${n.outside}`);
    else
      parts.push(
        `SNAT66 ${s.snat66.pool.length ? `pool ${s.snat66.pool.join(" ")}` : `${s.outsideInterface}'s address`}`,
      );
  }
  for (const m of s.dnat66) parts.push(`DNAT66 ${m.external} -> ${m.internal}`);
  if (s.inboundSnat66) parts.push(`inbound SNAT66 pool ${s.inboundSnat66.pool.join(" ")}`);
  if (s.proxyNeighbors.length)
    parts.push(
      `answers for ${s.proxyNeighbors.map((n) => `${n.addresses}${n.linkLayerAddress ? ` as ${n.linkLayerAddress}` : ""}`).join(" ")}`,
    );
  if (s.defaultRoute?.ipv4) parts.push(`default via ${s.defaultRoute.ipv4}`);
  if (s.defaultRoute?.ipv6) parts.push(`default via ${s.defaultRoute.ipv6}`);
  return `${s.insideInterfaces.join(" ")} -> ${s.outsideInterface}: ${parts.join(", ")}`;
}
