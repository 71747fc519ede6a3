import { stringify } from "yaml";
import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { kubeName } from "../../domain/naming";
import { dumpCronJob } from "../dumps/manifests";
import { code, Lines, workloadsOf } from "../../domain/runbookText";

export function sqliteIntro(config: StackConfig, item: PlannedItem): Lines {
  const file = config.apps[item.app].sqlite[item.name];
  return [`SQLite file \`${file.path}\` on claim \`${file.claim}\` in namespace \`${item.namespace}\`, dumped with the online backup API (gzip'd).`];
}

export function sqliteLoad(config: StackConfig, item: PlannedItem, dump: PlannedCopy): Lines {
  const ns = item.namespace;
  const file = config.apps[item.app].sqlite[item.name];
  const job = dumpCronJob(config, item, dump) as { spec: { jobTemplate: { spec: { template: { spec: { securityContext: { runAsUser: number } } } } } } };
  const uid = job.spec.jobTemplate.spec.template.spec.securityContext.runAsUser;
  const pod = kubeName([item.app, item.name, "restore"]);
  const manifest = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod, namespace: ns },
    spec: {
      securityContext: { runAsUser: uid, runAsNonRoot: true, fsGroup: uid, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "restore",
          image: config.images.sqlite,
          command: ["sleep", "3600"],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          volumeMounts: [{ name: "data", mountPath: "/target" }],
        },
      ],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: file.claim } }],
    },
  };
  return [
    `Check the file, stop the app (\`${file.claim}\` is mounted by one node at a time), then put it in place of \`${file.path}\` on claim \`${file.claim}\` through a helper pod that runs as the file's owner (${uid}):`,
    "",
    ...code("sh", [
      `gunzip -c ./${item.name}-*.sqlite.gz > ./restored.sqlite`,
      `sqlite3 ./restored.sqlite 'PRAGMA integrity_check'   # ok`,
      workloadsOf(ns, file.claim),
      `kubectl scale -n ${ns} deployment/<workload> --replicas=0`,
      "kubectl apply -f - <<'EOF'",
      ...stringify(manifest).trimEnd().split("\n"),
      "EOF",
      `kubectl wait -n ${ns} pod/${pod} --for=condition=Ready --timeout=5m`,
      `kubectl exec -n ${ns} ${pod} -- rm -f '/target${file.path}-wal' '/target${file.path}-shm'`,
      `kubectl cp ./restored.sqlite ${ns}/${pod}:/target${file.path}`,
      `kubectl delete pod -n ${ns} ${pod}`,
      `kubectl scale -n ${ns} deployment/<workload> --replicas=1`,
    ]),
  ];
}
