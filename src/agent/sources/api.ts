// Assignments from the API: the cluster agent's source. Watches this node's NodeConfig (one
// object, by name, in the operator's namespace), decodes its assignments with the same schemas
// that check resources, and hands the runtime the ones it could read. An assignment it cannot read
// is left out and reported in the NodeConfig's status, never a crash. No NodeConfig = nothing runs.
import { NODE_CONFIG_RESOURCE, type NodeConfigSpec, type NodeConfigStatus } from "../../api/nodeconfig.ts";
import type { KubeClient, KubeObject } from "../../operator/runtime/client.ts";
import { Informer } from "../../operator/runtime/informer.ts";
import type { Assignment } from "../../planner/plan.ts";
import { decodeAssignment } from "../../planner/wire.ts";
import type { Logger } from "../../util/log.ts";
import type { AssignmentSource } from "../runtime.ts";

type NodeConfigObject = KubeObject & { spec?: NodeConfigSpec; status?: NodeConfigStatus };

export interface ApiSourceOptions {
  client: KubeClient;
  namespace: string;
  nodeName: string;
  log: Logger;
  resyncMs?: number;
}

export class ApiSource implements AssignmentSource {
  private readonly informer: Informer<NodeConfigObject>;
  private deliver: ((a: Assignment[]) => Promise<void>) | undefined;
  /** what the last NodeConfig held that could not be read */
  problems: string[] = [];
  /** the NodeConfig generation last delivered */
  generation: number | undefined;
  private last = "";

  constructor(private readonly opts: ApiSourceOptions) {
    this.informer = new Informer<NodeConfigObject>(opts.client, NODE_CONFIG_RESOURCE, {
      namespace: opts.namespace,
      fieldSelector: `metadata.name=${opts.nodeName}`,
      log: opts.log,
      resyncMs: opts.resyncMs,
    });
    const changed = () => void this.push();
    this.informer.on({ added: changed, updated: changed, deleted: changed });
  }

  /** The NodeConfig as last seen (for the status writer's resourceVersion-free patches). */
  current(): NodeConfigObject | undefined {
    return this.informer.get(`${this.opts.namespace}/${this.opts.nodeName}`);
  }

  async start(deliver: (a: Assignment[]) => Promise<void>): Promise<void> {
    this.deliver = deliver;
    await this.informer.start();
    await this.push();
  }

  async stop(): Promise<void> {
    this.deliver = undefined;
    this.informer.stop();
  }

  private async push(): Promise<void> {
    if (!this.deliver) return;
    const nc = this.current();
    const wire = nc?.spec?.assignments ?? [];
    const text = JSON.stringify(wire);
    const generation = nc?.metadata.generation;
    if (text === this.last && generation === this.generation) return;
    this.last = text;
    const assignments: Assignment[] = [];
    const problems: string[] = [];
    wire.forEach((w, i) => {
      const d = decodeAssignment(w);
      if (d.ok) assignments.push(d.value);
      else problems.push(`spec.assignments[${i}]: ${d.error}`);
    });
    for (const p of problems)
      this.opts.log.error({ problem: p }, "an assignment of this node's NodeConfig cannot be read");
    this.problems = problems;
    await this.deliver(assignments);
    this.generation = generation;
  }
}
