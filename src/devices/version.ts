// Software versions of the boxes v6mostly drives, as FortiOS ("v7.2.4") and IOS-XE ("17.12.3",
// "17.3.4a", "17.12" in the running-config) write them. Parsed once where a version enters (the
// resource, `--version`, the box's own answer); what is not a version is refused, never guessed.

/** major, minor, patch (a missing patch is 0; a letter after the patch, IOS-XE's "a", is dropped). */
export type Version = readonly [major: number, minor: number, patch: number];

/** A text that is not a version; the message says which text and what a version looks like. */
export class VersionError extends Error {}

// The same shape ExternalDevice spec.version accepts (src/api/externaldevice.ts), with FortiOS's "v".
const VERSION = /^v?(\d{1,5})\.(\d{1,5})(?:\.(\d{1,5}))?(?:\.\d{1,5})*[a-z]?$/i;

/**
 * `what` names where the text came from ("--version", "the box's version"): it starts the
 * message of the VersionError thrown for a text that is not a version.
 */
export function parseVersion(text: string, what = "version"): Version {
  const m = VERSION.exec(text.trim());
  if (!m) {
    const shown = text.length > 40 ? `${JSON.stringify(text.slice(0, 40))}...` : JSON.stringify(text);
    throw new VersionError(`${what} ${shown} is not a version (expected numbers such as 7.2.4 or 17.12.1)`);
  }
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** `v` is `since` or later (`since` is one of our own constants, such as "7.0.1"). */
export function atLeast(v: Version, since: string): boolean {
  return compareVersions(v, parseVersion(since)) >= 0;
}

/**
 * Whether two version texts name the same release as far as both go: "17.12" (the IOS-XE
 * running-config's `version` line) agrees with "17.12.3", "17.1" does not. Both must be versions.
 */
export function sameRelease(a: string, b: string): boolean {
  const parts = (t: string) =>
    t
      .trim()
      .replace(/^v/i, "")
      .replace(/[a-z]$/i, "")
      .split(".")
      .map(Number);
  const x = parts(a);
  const y = parts(b);
  return x.slice(0, Math.min(x.length, y.length)).every((n, i) => n === y[i]);
}

export function versionText(v: Version): string {
  return v.join(".");
}
