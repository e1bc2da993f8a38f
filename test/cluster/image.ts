// The project's image for tests on a real node: built by image.sh (buildah, offline, cached by a
// digest of its inputs) and exported as an OCI archive that a node imports into containerd.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const IMAGE_SH = join(fileURLToPath(new URL(".", import.meta.url)), "image.sh");

export interface BuiltImage {
  /** the image's name, fully qualified (the CRI would turn `v6mostly:dev` into docker.io/…) */
  ref: string;
  /** the OCI archive for `ctr images import` */
  archive: string;
  /** the pause image a node's sandboxes are made from, and its archive */
  pauseRef: string;
  pauseArchive: string;
  /** digest of the inputs (the image's dev.v6mostly.inputs label) */
  inputs: string;
  compressedBytes: number;
  uncompressedBytes: number;
  /** seconds of the last build and export (those of the build that made the cached image if cached) */
  buildSeconds: number;
  exportSeconds: number;
  cached: boolean;
}

/** The pause image's archive (image-base.sh writes it; every node imports it). */
export function pauseArchive(): string {
  return join(process.env.V6MOSTLY_CACHE ?? "/var/cache/v6mostly", "images", "pause-3.2.oci.tar");
}

/** Why the image cannot be built here, or undefined. */
export function imageUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (buildah's storage under /var/cache/v6mostly)";
  if (spawnSync("buildah", ["--version"]).status !== 0)
    return "buildah is not installed (run test/cluster/build-k8s.sh)";
  return undefined;
}

/** Build localhost/v6mostly:dev (or take it from the cache): seconds when cached, minutes when not. */
export function buildImage(): BuiltImage {
  const r = spawnSync("bash", [IMAGE_SH], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new Error(
      `image.sh failed (${r.status ?? r.signal}):\n${(r.stderr ?? "").split("\n").slice(-40).join("\n")}`,
    );
  }
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as BuiltImage;
}
