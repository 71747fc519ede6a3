/** Markdown and shell text helpers every runbook section shares. */
import type { StackConfig } from "./config/schema";
import type { PlannedCopy } from "./model";
import { kubeName } from "./naming";
import { NAS_MOUNT, SecretRecipe, StoreValue } from "./repositories";
import { shellQuote } from "./truenas";

export type Lines = string[];

export function code(lang: string, lines: readonly string[]): Lines {
  return ["```" + lang, ...lines, "```", ""];
}

export function anchor(id: string): string {
  return `<a id="${id}"></a>`;
}

export function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function hours(value: number | undefined): string {
  if (value === undefined) return "none";
  if (value < 1) return `${Math.round(value * 60)} min`;
  return `${Number(value.toFixed(2))} h`;
}

/** Escapes text for a double-quoted shell word. */
export function dq(text: string): string {
  return text.replace(/[\\"$`]/g, (c) => `\\${c}`);
}

/** A command that prints one field of a secret-store item. */
export function storeRead(config: StackConfig, item: string, field: string): string {
  if (config.secretStore.provider === "onepassword-sdk") return `op read ${shellQuote(`op://${config.secretStore.vault}/${item}/${field}`)}`;
  // The kubernetes provider keeps one Secret per item in the vault namespace (it dies with the cluster).
  return secretRead(`${config.cluster.systemNamespace}-vault`, item, field);
}

/** A command that prints one key of a Secret in the cluster. */
export function secretRead(namespace: string, secret: string, key: string): string {
  return `kubectl get secret -n ${namespace} ${secret} -o jsonpath=${shellQuote(`{.data.${key.replace(/\./g, "\\.")}}`)} | base64 -d`;
}

export function storeName(config: StackConfig): string {
  return config.secretStore.provider === "onepassword-sdk"
    ? `1Password, vault \`${config.secretStore.vault}\``
    : `the in-cluster store (namespace \`${config.cluster.systemNamespace}-vault\`; gone with the cluster)`;
}

/** Environment a tool needs: template text per variable (literal, or with `{{ .var }}` store values). */
export interface ToolEnv {
  template: Record<string, string>;
  values: StoreValue[];
}

export const NOTIFICATION_KEYS = new Set(["NTFY_TOKEN", "HEALTHCHECKS_URL"]);

export const REF = /\{\{ \.(\w+) \}\}/g;

/**
 * `export` lines for a tool's environment: literals as they are, store values through `read`
 * (a command substitution, so no value is ever written here).
 */
export function exportLines(env: ToolEnv, read: (value: StoreValue, key: string) => string, skip: ReadonlySet<string> = NOTIFICATION_KEYS): Lines {
  const lines: Lines = [];
  for (const [key, text] of Object.entries(env.template)) {
    if (skip.has(key)) continue;
    if (!text.match(REF)) {
      lines.push(`export ${key}=${shellQuote(text)}`);
      continue;
    }
    let out = "";
    let last = 0;
    for (const match of text.matchAll(REF)) {
      const value = env.values.find((v) => v.variable === match[1]);
      if (!value) throw new Error(`${key}: no store value for ${match[1]}`);
      out += dq(text.slice(last, match.index)) + `$(${read(value, key)})`;
      last = match.index! + match[0].length;
    }
    out += dq(text.slice(last).replace(/\n$/, ""));
    lines.push(`export ${key}="${out}"`);
  }
  return lines;
}

export function fromStore(config: StackConfig, env: ToolEnv, skip?: ReadonlySet<string>): Lines {
  return exportLines(env, (value) => storeRead(config, value.item, value.field), skip);
}

/** The same variables read from a Secret in the cluster that holds the same store fields. */
export function fromCluster(config: StackConfig, env: ToolEnv, recipe: SecretRecipe, skip?: ReadonlySet<string>): Lines {
  return exportLines(
    env,
    (value) => {
      const variable = recipe.values.find((v) => v.item === value.item && v.field === value.field)?.variable;
      const secretKey = variable && Object.entries(recipe.template).find(([, text]) => text === `{{ .${variable} }}`)?.[0];
      if (!secretKey) return storeRead(config, value.item, value.field);
      return secretRead(recipe.namespace, recipe.name, secretKey);
    },
    skip,
  );
}

export function credentialBlocks(config: StackConfig, env: ToolEnv, recipe: SecretRecipe | undefined, skip?: ReadonlySet<string>): Lines {
  const lines: Lines = [];
  if (recipe) {
    lines.push(`Credentials while the cluster runs, from the Secret \`${recipe.name}\` in \`${recipe.namespace}\` (built by the ExternalSecret of the same name):`, "");
    lines.push(...code("sh", fromCluster(config, env, recipe, skip)));
    lines.push(`After losing the cluster, the same from the store (${storeName(config)}):`, "");
  } else {
    lines.push(`Credentials from the store (${storeName(config)}):`, "");
  }
  lines.push(...code("sh", fromStore(config, env, skip)));
  return lines;
}

export function nasMount(config: StackConfig, copy: PlannedCopy): Lines {
  const target = config.destinations[copy.destination];
  if (target.kind !== "nfs") return [];
  return [
    `The repository path is the one the movers see: mount the NAS share at \`${NAS_MOUNT}\` first (as a user that may read it):`,
    "",
    ...code("sh", [`sudo mkdir -p ${NAS_MOUNT}`, `sudo mount -t nfs ${target.server}:${target.path} ${NAS_MOUNT}`]),
  ];
}

/** Pods of `namespace` that mount `claim`, by owner: the workloads to stop. */
export function workloadsOf(namespace: string, claim: string): string {
  return `kubectl get pods -n ${namespace} -o json | jq -r '.items[] | select(any(.spec.volumes[]?; .persistentVolumeClaim.claimName == "${claim}")) | .metadata.ownerReferences[]? | .kind + "/" + .name' | sort -u`;
}

export function runNow(namespace: string, cronJob: string): Lines {
  const job = kubeName([cronJob, "manual"]);
  return [
    `kubectl delete job -n ${namespace} ${job} --ignore-not-found`,
    `kubectl create job -n ${namespace} --from=cronjob/${cronJob} ${job}`,
    `kubectl logs -n ${namespace} -f job/${job} --all-containers`,
  ];
}
