// The long-running commands stop on SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C).
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
}
