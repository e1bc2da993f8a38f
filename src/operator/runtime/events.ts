// Events (core/v1, served by every Kubernetes release): what `kubectl describe` lists under
// "Events". The same reason and message about the same object within ten minutes bumps the count
// of the existing Event, as client-go's recorder does, instead of writing a new one each time.
import { randomBytes } from "node:crypto";
import type { Logger } from "../../util/log.ts";
import { CORE, type KubeClient, type KubeObject } from "./client.ts";

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

const SAME_EVENT_WINDOW_MS = 10 * 60_000;

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; namespace: string; count: number; at: number }>();

  constructor(
    private readonly client: KubeClient,
    /** reportingController / source.component, e.g. "v6mostly-operator" */
    private readonly component: string,
    private readonly log?: Logger,
  ) {}

  /** Record an event; never throws (an event lost is logged, reconciling goes on). */
  async record(
    about: InvolvedObject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const namespace = about.namespace || "default";
    const key = `${about.uid ?? `${about.kind}/${namespace}/${about.name}`}|${type}|${reason}|${message}`;
    const now = Date.now();
    const stamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z");
    try {
      const seen = this.recent.get(key);
      if (seen && now - seen.at < SAME_EVENT_WINDOW_MS) {
        seen.count++;
        seen.at = now;
        await this.client.mergePatch(CORE.events, seen.namespace, seen.name, {
          count: seen.count,
          lastTimestamp: stamp,
        });
        return;
      }
      const name = `${about.name}.${randomBytes(8).toString("hex")}`.slice(0, 253);
      const event: KubeObject = {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: about,
        reason,
        message: message.slice(0, 1024),
        type,
        count: 1,
        firstTimestamp: stamp,
        lastTimestamp: stamp,
        source: { component: this.component },
        reportingComponent: this.component,
      };
      await this.client.create(CORE.events, event);
      this.recent.set(key, { name, namespace, count: 1, at: now });
      if (this.recent.size > 4096) {
        for (const [k, v] of this.recent) if (now - v.at >= SAME_EVENT_WINDOW_MS) this.recent.delete(k);
      }
    } catch (e) {
      this.recent.delete(key);
      this.log?.warn({ reason, err: (e as Error).message }, "could not record an event");
    }
  }
}
