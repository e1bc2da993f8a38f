// The configuration files and flags of a test node's containerd and kubelet: pure functions of the
// node's paths and addresses, so that what a node runs with can be read (and printed) in one place.
// Every path the daemons would otherwise take from the machine (/var/lib/kubelet, /run/containerd,
// /opt/containerd, /etc/cni, /var/lib/cni, runc's state) is set to one under the node's directory.
// See test/cluster/README.md ("The node") and ../../../shared/k8s/README.md (the pitfalls named below).
import { join } from "node:path";
import { stringify } from "yaml";

/** Where a node keeps everything: one directory, removed by stop(). */
export interface NodePaths {
  dir: string;
  /** containerd's root and state below it (a tmpfs in the node's mount namespace) */
  containerdDir: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  containerdConfig: string;
  runcRoot: string;
  cniConfDir: string;
  cniDataDir: string;
  kubeletRoot: string;
  kubeletConfig: string;
  /** bound over /var/log inside the node's mount namespace (kubelet's /var/log/pods is fixed in 1.20) */
  varLog: string;
}

export function nodePaths(dir: string): NodePaths {
  return {
    dir,
    containerdDir: join(dir, "containerd"),
    containerdRoot: join(dir, "containerd", "root"),
    containerdState: join(dir, "containerd", "state"),
    containerdSocket: join(dir, "containerd.sock"),
    containerdConfig: join(dir, "containerd.toml"),
    runcRoot: join(dir, "runc"),
    cniConfDir: join(dir, "cni", "net.d"),
    cniDataDir: join(dir, "cni", "ipam"),
    kubeletRoot: join(dir, "kubelet"),
    kubeletConfig: join(dir, "kubelet.yaml"),
    varLog: join(dir, "log"),
  };
}

/** The pause image containerd makes pod sandboxes from (kubelet 1.20 ignores --pod-infra-container-image). */
export const PAUSE_IMAGE = "k8s.gcr.io/pause:3.2";
/** Debian's containernetworking-plugins. */
export const CNI_BIN_DIR = "/usr/lib/cni";

const toml = (s: string) => JSON.stringify(s);

/** containerd 1.6's config (version 2). */
export function containerdConfig(p: NodePaths): string {
  return `version = 2
root = ${toml(p.containerdRoot)}
state = ${toml(p.containerdState)}
# Plugins that cannot work here, disabled so the log says what matters.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${toml(p.containerdSocket)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${toml(join(p.containerdDir, "opt"))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${toml(PAUSE_IMAGE)}
  # The machine's capability bounding set lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj
  # and every sandbox fails with "can't get final child's PID from pipe" (pitfall 1).
  restrict_oom_score_adj = true
  enable_selinux = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # cgroupfs, as kubelet's cgroupDriver (no systemd on this machine kind)
        SystemdCgroup = false
        Root = ${toml(p.runcRoot)}

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${toml(CNI_BIN_DIR)}
    conf_dir = ${toml(p.cniConfDir)}
    max_conf_num = 1
`;
}

/**
 * The CNI network for pods that are not hostNetwork. Node Ready needs one even when every pod is
 * hostNetwork (pitfall 4). `ipMasq: false`: the bridge plugin writes no iptables rule; it turns on
 * net.ipv4.ip_forward, which here is the node namespace's.
 */
export function cniConflist(p: NodePaths, podSubnet: string): string {
  return `${JSON.stringify(
    {
      cniVersion: "0.4.0",
      name: "v6mostly-test",
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isDefaultGateway: true,
          ipMasq: false,
          ipam: { type: "host-local", ranges: [[{ subnet: podSubnet }]], dataDir: p.cniDataDir },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletOptions {
  name: string;
  /** the node's IPv4 address: InternalIP, where kubelet serves, and hostNetwork pods' IP */
  nodeIP: string;
  kubeconfig: string;
  caCert: string;
  servingCert: { cert: string; key: string };
  /** kubelet's cgroup root (its kubepods hierarchy goes below), one per node */
  cgroupRoot: string;
}

/** kubelet's KubeletConfiguration (kubelet.config.k8s.io/v1beta1). */
export function kubeletConfig(p: NodePaths, o: KubeletOptions): string {
  return stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: o.nodeIP,
    port: 10250,
    readOnlyPort: 0,
    healthzPort: 0,
    tlsCertFile: o.servingCert.cert,
    tlsPrivateKeyFile: o.servingCert.key,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: o.caCert },
    },
    authorization: { mode: "Webhook" },
    cgroupDriver: "cgroupfs",
    cgroupRoot: o.cgroupRoot,
    // kubelet 1.20 would write its KUBE-* chains into the node namespace's iptables; nothing needs them
    makeIPTablesUtilChains: false,
    failSwapOn: false,
    // no cluster DNS exists (no CoreDNS package): pods get an empty resolv.conf, not the machine's
    resolvConf: "",
    volumePluginDir: join(p.kubeletRoot, "volume-plugins"),
    // the machine's disk is shared with other work: no eviction or image GC for disk usage
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "0%", "imagefs.available": "0%" },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // status reported often: Node Ready is seen sooner
    nodeStatusUpdateFrequency: "4s",
  });
}

/** kubelet's command line (the flags that 1.20 does not take from the config file). */
export function kubeletArgs(p: NodePaths, o: KubeletOptions): string[] {
  return [
    `--config=${p.kubeletConfig}`,
    `--kubeconfig=${o.kubeconfig}`,
    `--root-dir=${p.kubeletRoot}`,
    `--cert-dir=${join(p.kubeletRoot, "pki")}`,
    `--seccomp-profile-root=${join(p.kubeletRoot, "seccomp")}`,
    "--container-runtime=remote",
    `--container-runtime-endpoint=unix://${p.containerdSocket}`,
    // cAdvisor's own containerd client (a flag 1.20 still registers)
    `--containerd=${p.containerdSocket}`,
    `--pod-infra-container-image=${PAUSE_IMAGE}`,
    `--hostname-override=${o.name}`,
    `--node-ip=${o.nodeIP}`,
    "--v=2",
  ];
}
