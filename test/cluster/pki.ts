// The control plane's PKI, made with openssl at test time: a CA, certificates it signs (the API
// server's serving certificate, client certificates that carry a Kubernetes identity), and the
// ServiceAccount token signing key pair. Kubernetes maps a client certificate to a user: the
// subject's CN is the user name, each O is a group (kube-apiserver's x509 authenticator).
// P-256 keys: a tenth of the time of RSA-2048 to make, and every component here accepts them.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Who a client certificate says it is. */
export interface Identity {
  user: string;
  groups?: string[];
}

/** The identity of ServiceAccount `namespace/name`, as its tokens authenticate. */
export function serviceAccount(namespace: string, name: string): Identity {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`],
  };
}

export interface KeyPair {
  cert: string;
  key: string;
}

const DAYS = "2";
const CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export class Pki {
  readonly caCert: string;
  readonly caKey: string;
  private serial = 0;

  /** A new CA in `dir` (made if absent). */
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.caCert = join(dir, "ca.pem");
    this.caKey = join(dir, "ca.key");
    this.openssl(
      ["req", "-x509", ...CURVE, "-days", DAYS, "-subj", "/CN=v6mostly test cluster CA"].concat([
        "-keyout",
        this.caKey,
        "-out",
        this.caCert,
      ]),
    );
  }

  /** A serving certificate for the names and addresses given. */
  server(name: string, sans: { dns?: string[]; ip?: string[] }): KeyPair {
    const alt = [...(sans.dns ?? []).map((d) => `DNS:${d}`), ...(sans.ip ?? []).map((a) => `IP:${a}`)];
    return this.issue(name, `/CN=${name}`, [
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${alt.join(",")}`,
    ]);
  }

  /** A client certificate for `identity` (CN = user, one O per group). */
  client(name: string, identity: Identity): KeyPair {
    for (const part of [identity.user, ...(identity.groups ?? [])]) {
      if (/[/\\=+,]/.test(part))
        throw new Error(`identity part ${JSON.stringify(part)}: /, \\, =, + and , are not allowed`);
    }
    const subject = [...(identity.groups ?? []).map((g) => `/O=${g}`), `/CN=${identity.user}`].join("");
    return this.issue(name, subject, ["extendedKeyUsage=clientAuth"]);
  }

  /** The key pair that signs ServiceAccount tokens (kube-apiserver and kube-controller-manager). */
  serviceAccountKeys(): { key: string; pub: string } {
    const key = join(this.dir, "sa.key");
    const pub = join(this.dir, "sa.pub");
    this.openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]);
    this.openssl(["ec", "-in", key, "-pubout", "-out", pub]);
    return { key, pub };
  }

  pem(path: string): string {
    return readFileSync(path, "utf8");
  }

  private issue(name: string, subject: string, extensions: string[]): KeyPair {
    const base = join(this.dir, `${name}-${++this.serial}`);
    const ext = `${base}.ext`;
    writeFileSync(
      ext,
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        ...extensions,
      ]
        .join("\n")
        .concat("\n"),
    );
    this.openssl([
      "req",
      "-new",
      ...CURVE,
      "-subj",
      subject,
      "-keyout",
      `${base}.key`,
      "-out",
      `${base}.csr`,
    ]);
    this.openssl(
      ["x509", "-req", "-in", `${base}.csr`, "-CA", this.caCert, "-CAkey", this.caKey]
        .concat(["-set_serial", String(Date.now() * 1000 + this.serial), "-days", DAYS, "-extfile", ext])
        .concat(["-out", `${base}.pem`]),
    );
    return { cert: `${base}.pem`, key: `${base}.key` };
  }

  private openssl(args: string[]): void {
    execFileSync("openssl", args, { cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] });
  }
}
