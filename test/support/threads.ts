import { readdirSync, readFileSync } from "node:fs";

/** The names of a process's threads (this one by default), from /proc/PID/task/TID/comm. */
export function threadNames(pid: number | "self" = "self"): string[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      return [readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()];
    } catch {
      return []; // ended meanwhile
    }
  });
}
