// Waiting in tests: a pause, and polling a condition until it holds or a deadline passes.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `f` every 10 ms until it returns something truthy; throws naming `what` after `ms`. */
export async function until<T>(what: string, f: () => T | undefined | false, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}
