/**
 * Pod Security Standards, "restricted" profile (Kubernetes v1.30+, which is what
 * `pod-security.kubernetes.io/enforce: restricted` admits), checked on a pod spec. Returns every
 * violation; an empty list means the API server would admit the pod.
 */
// `any`: pod specs are walked by field name, like the admission plugin does; callers pass manifests of any shape.
type Json = Record<string, any>;

const ALLOWED_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

export function restrictedViolations(podSpec: Json): string[] {
  const problems: string[] = [];
  const pod = podSpec.securityContext ?? {};
  const containers: Json[] = [...(podSpec.initContainers ?? []), ...(podSpec.containers ?? []), ...(podSpec.ephemeralContainers ?? [])];
  for (const flag of ["hostNetwork", "hostPID", "hostIPC"]) if (podSpec[flag]) problems.push(`${flag} is set`);
  for (const volume of podSpec.volumes ?? []) {
    const type = Object.keys(volume).find((key) => key !== "name");
    if (!type || !ALLOWED_VOLUMES.includes(type)) problems.push(`volume ${volume.name} has type ${type}, not allowed under restricted`);
  }
  const seccomp = (context: Json) => context.seccompProfile?.type;
  for (const container of containers) {
    const context: Json = container.securityContext ?? {};
    const name = container.name;
    if (context.privileged) problems.push(`${name}: privileged`);
    if (context.allowPrivilegeEscalation !== false) problems.push(`${name}: allowPrivilegeEscalation must be false`);
    const runAsNonRoot = context.runAsNonRoot ?? pod.runAsNonRoot;
    if (runAsNonRoot !== true) problems.push(`${name}: runAsNonRoot must be true`);
    const runAsUser = context.runAsUser ?? pod.runAsUser;
    if (runAsUser === 0) problems.push(`${name}: runAsUser 0`);
    const profile = seccomp(context) ?? seccomp(pod);
    if (profile !== "RuntimeDefault" && profile !== "Localhost") problems.push(`${name}: seccompProfile must be RuntimeDefault or Localhost`);
    const drop: string[] = context.capabilities?.drop ?? [];
    if (!drop.includes("ALL")) problems.push(`${name}: capabilities must drop ALL`);
    const add: string[] = context.capabilities?.add ?? [];
    if (add.some((capability) => capability !== "NET_BIND_SERVICE")) problems.push(`${name}: adds capabilities ${add.join(", ")}`);
    for (const port of container.ports ?? []) if (port.hostPort) problems.push(`${name}: hostPort ${port.hostPort}`);
  }
  if (seccomp(pod) === "Unconfined") problems.push("pod seccompProfile is Unconfined");
  return problems;
}

/** The pod templates of Jobs and CronJobs in a list of manifests. */
export function podTemplates(manifests: Json[]): Array<{ owner: string; spec: Json }> {
  return manifests.flatMap((manifest) => {
    const owner = `${manifest.kind} ${manifest.metadata?.namespace}/${manifest.metadata?.name}`;
    if (manifest.kind === "Job") return [{ owner, spec: manifest.spec.template.spec }];
    if (manifest.kind === "CronJob") return [{ owner, spec: manifest.spec.jobTemplate.spec.template.spec }];
    return [];
  });
}
