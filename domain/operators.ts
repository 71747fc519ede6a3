/**
 * Operators the program can install (most homelabs install them with Flux; `manage: false` is the
 * default). Charts and images are pinned to versions whose CRDs the tests validate against.
 */
import type { StackConfig } from "./config/schema";

export interface ChartSpec {
  /** Helm release name. */
  release: string;
  chart: string;
  version: string;
  /** Helm repository URL; absent when `chart` is an oci:// reference. */
  repository?: string;
  namespace: string;
  values: Record<string, unknown>;
}

const FORK_IMAGE = { repository: "ghcr.io/perfectra1n/volsync", tag: "v0.17.11" };

export type VolsyncFlavor = "upstream" | "kopia-fork";

/** The Kopia mover exists only in the fork, which also runs restic; upstream otherwise. */
export function volsyncFlavor(config: StackConfig): VolsyncFlavor {
  const configured = config.operators.volsync.flavor;
  if (configured !== "auto") return configured;
  const usesKopia = Object.values(config.apps).some((app) => Object.values(app.volumes).some((volume) => volume.mover === "kopia"));
  return usesKopia ? "kopia-fork" : "upstream";
}

export function volsyncChart(config: StackConfig): ChartSpec {
  const namespace = config.operators.volsync.namespace;
  if (volsyncFlavor(config) === "upstream") {
    return {
      release: "volsync",
      chart: "volsync",
      version: "0.16.0",
      repository: "https://backube.github.io/helm-charts/",
      namespace,
      values: { manageCRDs: true, metrics: { disableAuth: true } },
    };
  }
  return {
    release: "volsync",
    chart: "oci://ghcr.io/home-operations/charts-mirror/volsync-perfectra1n",
    version: "0.18.5",
    namespace,
    values: {
      // The fork's chart needs the plain name, or its movers cannot find the controller.
      fullnameOverride: "volsync",
      manageCRDs: true,
      metrics: { disableAuth: true },
      image: FORK_IMAGE,
      ...Object.fromEntries(["kopia", "restic", "rclone", "rsync", "rsync-tls", "syncthing"].map((mover) => [mover, FORK_IMAGE])),
    },
  };
}

export function snapshotControllerChart(config: StackConfig): ChartSpec {
  return {
    release: "snapshot-controller",
    chart: "snapshot-controller",
    version: "4.1.0",
    repository: "https://piraeus.io/helm-charts/",
    namespace: config.operators.snapshotController.namespace,
    values: {},
  };
}

export function snapschedulerChart(config: StackConfig): ChartSpec {
  return {
    release: "snapscheduler",
    chart: "snapscheduler",
    version: "3.5.0",
    repository: "https://backube.github.io/helm-charts/",
    namespace: config.operators.snapscheduler.namespace,
    values: {},
  };
}
