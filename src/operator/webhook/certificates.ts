// The webhook's certificates: a self-made CA (the API server trusts it through the caBundle of
// the ValidatingWebhookConfiguration) and a serving certificate it signs. Reading, checking and
// deciding use node:crypto's X509Certificate and are pure; making certificates uses
// @peculiar/x509 over WebCrypto (Node has no certificate builder), with ECDSA P-256 keys that
// Node's OpenSSL makes.
//
// Rotation, after cert-manager and OPA's cert-controller:
// - the CA lives 1 year and is replaced at 2/3 of its life; the old CA stays in the trust bundle
//   until it expires, so certificates it signed stay trusted while replicas still serve them;
// - the serving certificate lives 90 days and is renewed at 2/3 of its life (30 days left), by
//   the newest CA. A new CA is made 122 days before the old one expires, so a serving
//   certificate never outlives its CA, and the CA that signs a renewed certificate has been in
//   the caBundle since the previous renewal at the latest.
import "reflect-metadata"; // @peculiar/x509's dependency injection (tsyringe) needs it loaded first
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";
import { format, parseAddress } from "../../util/net.ts";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
/** WebCrypto's key type as @peculiar/x509 declares it (the DOM's; Node's is the same object) */
type X509Key = x509.X509CertificateCreateParams["publicKey"] & webcrypto.CryptoKey;

const DAY = 86_400_000;
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
/** notBefore is set this far back, for API servers whose clock is a little behind ours */
const BACKDATE_MS = 5 * 60_000;

export interface Lifetimes {
  caMs: number;
  servingMs: number;
  /** the part of its life after which a certificate is replaced */
  renewAt: number;
}

export const DEFAULT_LIFETIMES: Lifetimes = { caMs: 365 * DAY, servingMs: 90 * DAY, renewAt: 2 / 3 };

/** What the Secret holds, PEM text. */
export interface CertificateBundle {
  /** ca.crt: every CA still trusted, the newest (the signer) first; the caBundle */
  caCert: string;
  /** ca.key: the newest CA's private key */
  caKey: string;
  /** tls.crt: the serving certificate */
  cert: string;
  /** tls.key */
  key: string;
}

/** The Secret's keys for each part (type kubernetes.io/tls: tls.crt and tls.key are required). */
export const SECRET_KEYS = {
  caCert: "ca.crt",
  caKey: "ca.key",
  cert: "tls.crt",
  key: "tls.key",
} as const satisfies Record<keyof CertificateBundle, string>;

export type RotationPlan =
  | { action: "keep"; nextCheck: Date }
  | {
      action: "issue";
      /** make a new CA (it becomes the signer; the old ones stay trusted until they expire) */
      newCa: boolean;
      /** make a new serving certificate (neither: only expired CAs leave the bundle) */
      newServing: boolean;
      /** the serving certificate's names: DNS names and IP addresses */
      hosts: string[];
      /** in words, for the log */
      reasons: string[];
    };

/** Every certificate in a PEM text, in order. Throws on a block that is not a certificate. */
export function splitPem(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** The DNS names and IP addresses of a certificate's subjectAltName. */
export function hostsOf(cert: X509Certificate): string[] {
  const out: string[] = [];
  for (const part of (cert.subjectAltName ?? "").split(", ")) {
    const m = /^(DNS|IP Address):(.+)$/.exec(part);
    if (m) out.push(canonical(m[2]!));
  }
  return out;
}

const lifeSpent = (c: X509Certificate, now: Date) => {
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  return (now.getTime() - from) / (to - from);
};
const renewalTime = (c: X509Certificate, renewAt: number) => {
  const from = Date.parse(c.validFrom);
  return new Date(from + (Date.parse(c.validTo) - from) * renewAt);
};
/** One spelling per name: lower case, IP addresses in their RFC 5952 form (Node prints IPv6 SANs in full). */
function canonical(host: string): string {
  const a = parseAddress(host);
  return a.ok ? format(a.value.family, a.value.value) : host.toLowerCase();
}
const normalize = (hosts: readonly string[]) => [...new Set(hosts.map(canonical))].sort();

/**
 * What to do with the bundle read from the Secret (undefined: no Secret yet): keep it, or issue a
 * new CA and/or serving certificate, and why. `hosts` are the names this replica is reached by.
 */
export function planRotation(
  bundle: CertificateBundle | undefined,
  now: Date,
  hosts: readonly string[],
  lifetimes: Lifetimes = DEFAULT_LIFETIMES,
): RotationPlan {
  const wanted = normalize(hosts);
  const fresh = (why: string): RotationPlan => ({
    action: "issue",
    newCa: true,
    newServing: true,
    hosts: wanted,
    reasons: [why],
  });
  if (!bundle) return fresh("no certificate yet");
  let cas: X509Certificate[];
  let cert: X509Certificate;
  try {
    cas = splitPem(bundle.caCert);
    [cert] = splitPem(bundle.cert) as [X509Certificate];
    if (cas.length === 0 || !cert) return fresh("the Secret lacks a certificate");
    if (!cas[0]!.checkPrivateKey(createPrivateKey(bundle.caKey)))
      return fresh("ca.key does not belong to the CA");
    if (!cert.checkPrivateKey(createPrivateKey(bundle.key)))
      return fresh("tls.key does not belong to the serving certificate");
  } catch (e) {
    return fresh(`the Secret does not hold a usable certificate (${(e as Error).message})`);
  }
  const reasons: string[] = [];
  const signer = cas[0]!;
  const newCa = lifeSpent(signer, now) >= lifetimes.renewAt;
  if (newCa) reasons.push(`the CA is past ${Math.round(lifetimes.renewAt * 100)}% of its life`);
  const present = hostsOf(cert);
  const missing = wanted.filter((h) => !present.includes(h));
  const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  let newServing = false;
  let servingHosts = wanted;
  if (!issuer || now.getTime() >= Date.parse(issuer.validTo)) {
    newServing = true;
    reasons.push("the serving certificate is not signed by a trusted CA");
  } else if (lifeSpent(cert, now) >= lifetimes.renewAt) {
    newServing = true;
    reasons.push(`the serving certificate is past ${Math.round(lifetimes.renewAt * 100)}% of its life`);
  } else if (missing.length) {
    // Another replica may want other names (a rollout with other flags): keep its names too, or
    // the two would take turns replacing each other's certificate.
    newServing = true;
    servingHosts = normalize([...present, ...wanted]);
    reasons.push(`the serving certificate lacks ${missing.join(", ")}`);
  }
  const expired = cas.slice(1).filter((ca) => now.getTime() >= Date.parse(ca.validTo));
  if (expired.length) reasons.push(`${expired.map((ca) => ca.subject).join(", ")} expired`);
  if (reasons.length) return { action: "issue", newCa, newServing, hosts: servingHosts, reasons };
  // Kept: look again when the first of them is due (an old CA expiring leaves the bundle then).
  const due = [renewalTime(signer, lifetimes.renewAt), renewalTime(cert, lifetimes.renewAt)];
  for (const ca of cas.slice(1)) due.push(new Date(ca.validTo));
  return { action: "keep", nextCheck: new Date(Math.min(...due.map((d) => d.getTime()))) };
}

/** Carry out an "issue" plan: the new bundle (old CAs that have not expired stay trusted). */
export async function issue(
  bundle: CertificateBundle | undefined,
  plan: Extract<RotationPlan, { action: "issue" }>,
  now: Date,
  lifetimes: Lifetimes = DEFAULT_LIFETIMES,
): Promise<CertificateBundle> {
  let trusted = bundle ? safeSplit(bundle.caCert) : [];
  let caKey = bundle?.caKey ?? "";
  if (plan.newCa) {
    const ca = await makeCa(now, lifetimes.caMs);
    caKey = ca.key;
    trusted = [new X509Certificate(ca.cert), ...trusted];
  }
  trusted = trusted.filter((c) => Date.parse(c.validTo) > now.getTime());
  const caCert = trusted.map((c) => c.toString()).join("");
  let { cert, key } = bundle ?? { cert: "", key: "" };
  if (plan.newServing)
    ({ cert, key } = await makeServing(trusted[0]!, caKey, plan.hosts, now, lifetimes.servingMs));
  return { caCert, caKey, cert, key };
}

function safeSplit(text: string): X509Certificate[] {
  try {
    return splitPem(text);
  } catch {
    return [];
  }
}

const serialNumber = () => {
  const b = randomBytes(16);
  b[0]! &= 0x7f; // RFC 5280 §4.1.2.2: a positive integer
  return b.toString("hex");
};

const pkcs8Pem = async (key: webcrypto.CryptoKey) =>
  x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");

async function makeCa(now: Date, lifeMs: number): Promise<{ cert: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as {
    publicKey: X509Key;
    privateKey: X509Key;
  };
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    // a name per CA: the old and the new one sit side by side in the caBundle
    name: `CN=v6mostly webhook CA ${now.toISOString().replace(/\.\d+Z$/, "Z")}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + lifeMs),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      // RFC 5280 §4.2.1.9, §4.2.1.3: a CA that signs end-entity certificates only
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await pkcs8Pem(keys.privateKey) };
}

async function makeServing(
  ca: X509Certificate,
  caKeyPem: string,
  hosts: readonly string[],
  now: Date,
  lifeMs: number,
): Promise<{ cert: string; key: string }> {
  const signingKey = await webcrypto.subtle.importKey(
    "pkcs8",
    createPrivateKey(caKeyPem).export({ type: "pkcs8", format: "der" }),
    ALGORITHM,
    false,
    ["sign"],
  );
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as {
    publicKey: X509Key;
    privateKey: X509Key;
  };
  const issuer = new x509.X509Certificate(ca.raw);
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  // never past the CA's own end (RFC 5280 §6.1.3: a chain is valid only while every link is)
  const notAfter = new Date(Math.min(notBefore.getTime() + lifeMs, Date.parse(ca.validTo)));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: "CN=v6mostly-webhook",
    issuer: issuer.subject,
    notBefore,
    notAfter,
    signingKey: signingKey as X509Key,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      // RFC 6125 §6.4: clients (Go's, the API server's) match the name in subjectAltName only
      new x509.SubjectAlternativeNameExtension(
        hosts.map((h) => (isIP(h) ? { type: "ip", value: h } : { type: "dns", value: h })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer),
    ],
  });
  return { cert: cert.toString("pem"), key: await pkcs8Pem(keys.privateKey) };
}

/** The fingerprint and end of a PEM certificate, for logs (never the key). */
export function summarize(pem: string): { serial: string; sha256: string; notAfter: string } {
  const [c] = safeSplit(pem);
  if (!c) return { serial: "", sha256: "", notAfter: "" };
  return { serial: c.serialNumber, sha256: c.fingerprint256, notAfter: new Date(c.validTo).toISOString() };
}
