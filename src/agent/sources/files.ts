// Assignments from resource files: the standalone `run` command's source. Reads, validates and
// plans the files as `validate` and `plan` do, and hands the runtime the assignments of this node
// (found by its name in the plan). `reload()` (SIGHUP) reads them again; files with problems leave
// the running services as they are.
import { formatProblem, validatePaths } from "../../api/validate.ts";
import { type Assignment, type Plan, plan } from "../../planner/plan.ts";
import type { Logger } from "../../util/log.ts";
import type { AssignmentSource } from "../runtime.ts";

export interface FileSourceOptions {
  paths: readonly string[];
  /** this host's name: the node whose assignments are taken from the plan */
  nodeName: string;
  log: Logger;
  /** where problems go, one line each (standard error for the CLI) */
  report(line: string): void;
}

export class FileSource implements AssignmentSource {
  private deliver: ((assignments: Assignment[]) => Promise<void>) | undefined;
  /** the last good load before start(), so that start() does not read (and report) twice */
  private loaded: Assignment[] | undefined;

  constructor(private readonly opts: FileSourceOptions) {}

  /** Validate and plan the files; undefined (with the problems reported) when they cannot run. */
  load(): Assignment[] | undefined {
    const { resources, problems } = validatePaths(this.opts.paths);
    for (const p of problems) this.opts.report(formatProblem(p));
    if (problems.some((p) => p.severity === "error")) return undefined;
    const result: Plan = plan(resources, { standaloneNode: this.opts.nodeName });
    for (const c of result.conflicts) {
      this.opts.report(`${c.source.file}#${c.source.doc} ${c.resource}: conflict: ${c.message}`);
    }
    if (result.conflicts.length > 0) return undefined;
    for (const u of result.unplaced)
      this.opts.report(`${u.source.file}#${u.source.doc} ${u.resource}: ${u.reason}`);
    for (const d of result.devices) {
      for (const a of d.assignments) {
        this.opts.log.info(
          { resource: `${a.kind}/${a.name}`, device: d.name },
          "runs on an ExternalDevice; not started here",
        );
      }
    }
    const mine = result.nodes.find((n) => n.name === this.opts.nodeName);
    if (!mine) {
      this.opts.report(`the plan has no node named ${this.opts.nodeName}`);
      return undefined;
    }
    this.loaded = mine.assignments;
    return mine.assignments;
  }

  /** The first load: throws when the files cannot run, so that nothing starts half-configured. */
  async start(deliver: (assignments: Assignment[]) => Promise<void>): Promise<void> {
    const first = this.loaded ?? this.load();
    this.loaded = undefined;
    if (!first) throw new Error("nothing started: fix the problems above");
    this.deliver = deliver;
    await deliver(first);
  }

  /** Read the files again; false (and nothing changed) when they have problems. */
  async reload(): Promise<boolean> {
    const next = this.load();
    this.loaded = undefined;
    if (!next || !this.deliver) return false;
    await this.deliver(next);
    return true;
  }

  async stop(): Promise<void> {
    this.deliver = undefined;
  }
}
