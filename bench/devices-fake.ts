// The fake FortiGate in its own process for bench/devices.ts (so that it does not share a thread
// with the client being measured). Reads {key, cert, token, version} as JSON on stdin, prints the
// port, serves until stdin closes.
import { FakeFortiGate } from "../test/devices/support/fake-fortios.ts";
import { FortiSchemaChecker } from "../test/devices/support/fortios-schema.ts";
import { fortiSchema } from "../test/devices/support/paths.ts";
import { FGT_INTERFACES } from "../test/devices/support/seed.ts";

const chunks: Buffer[] = [];
process.stdin.on("data", (c: Buffer) => {
  chunks.push(c);
  const text = Buffer.concat(chunks).toString("utf8");
  const nl = text.indexOf("\n");
  if (nl < 0 || chunks.length === 0) return;
  chunks.length = 0;
  const o = JSON.parse(text.slice(0, nl)) as { key: string; cert: string; token: string; version: string };
  const fake = new FakeFortiGate({
    ...o,
    checker: new FortiSchemaChecker(fortiSchema()),
    interfaces: FGT_INTERFACES,
  });
  void fake.start().then(() => process.stdout.write(`${fake.port}\n`));
  process.stdin.on("end", () => void fake.stop());
});
