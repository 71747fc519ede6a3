import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { StackConfig } from "../../domain/config/schema";
import { LABELS } from "../../domain/naming";
import type { BackupPlan } from "../../domain/model";
import { bucketFields, PasswordName, passwordGenerations, rotationId, SecretOwner } from "../../domain/secrets";
import { secretStoreNamespaces } from "../../domain/storage";
import type { ConsumerCredential } from "../storage/credentials";

export interface CredentialStoreArgs {
  /** The validated stack config (store settings, cluster name, rotations). */
  config: StackConfig;
  /** The plan, for the namespaces a store this program creates admits. */
  plan: BackupPlan;
  /** Owners of generated credentials and what each holds. */
  owners: SecretOwner[];
  /** Bucket credentials created by the destinations, by destination then consumer id. */
  bucketCredentials: Record<string, Record<string, ConsumerCredential>>;
  /** The locked-down system namespace the source Secrets live in. */
  systemNamespace: pulumi.Input<string>;
}

/**
 * Generates repository passwords and cipher passes, and writes every generated credential to the
 * secret store: one Secret per owner in the system namespace, copied by a PushSecret into one
 * store item per owner. With the kubernetes provider, also creates the in-cluster store.
 * A store it creates serves only the namespaces the plan uses.
 */
export class CredentialStore extends pulumi.ComponentResource {
  static readonly __pulumiType = "homelab-backups:secrets:CredentialStore";

  /** Store items written, by owner id. */
  readonly items: Record<string, string> = {};
  /** Generated passwords (secret), by owner id and password name, for consumers outside the cluster. */
  readonly passwords: Record<string, Partial<Record<PasswordName, pulumi.Output<string>>>> = {};

  constructor(name: string, args: CredentialStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    const { config } = args;
    const store = config.secretStore;
    super(CredentialStore.__pulumiType, name, { store: { kind: store.kind, name: store.name, provider: store.provider }, owners: args.owners.map((owner) => owner.item) }, opts);
    const labels = { [LABELS.managedBy]: "homelab-backups" };

    const namespaces = secretStoreNamespaces(config, args.plan);
    if (store.provider === "kubernetes") this.storeResource(config, namespaces, labels, this.inClusterProvider(config, args.systemNamespace, labels));
    else if (store.manage) {
      // 1Password's SDK provider; the service account needs write on the vault for PushSecrets.
      this.storeResource(config, namespaces, labels, { onepasswordSDK: { vault: store.vault, auth: { serviceAccountSecretRef: { ...store.serviceAccountSecret } } } });
    }

    for (const owner of args.owners) {
      const data: Record<string, pulumi.Input<string>> = {};
      for (const password of owner.passwords) {
        const rotation = config.rotations[rotationId(owner.id, password)] ?? 0;
        for (const { resourceName, generation, field } of passwordGenerations(owner.id, password, rotation)) {
          const generated = new random.RandomPassword(
            resourceName,
            // Letters and digits only: the value lands in URLs, env files and templates unescaped.
            { length: 48, special: false, keepers: { rotation: String(generation) } },
            { parent: this, additionalSecretOutputs: ["result"] },
          );
          data[field] = generated.result;
          if (field === password) (this.passwords[owner.id] ??= {})[password] = generated.result;
        }
      }
      for (const consumer of owner.bucketCredentials) {
        const credential = args.bucketCredentials[consumer.destination]?.[consumer.id];
        if (!credential) throw new Error(`no credential was created for ${consumer.destination}/${consumer.id}`);
        const fields = bucketFields(consumer);
        data[fields.accessKeyId] = credential.accessKeyId;
        data[fields.secretAccessKey] = credential.secretAccessKey;
      }
      const sourceName = `hb-${owner.id}`;
      const source = new k8s.core.v1.Secret(
        `${owner.id}-credentials`,
        {
          metadata: { name: sourceName, namespace: args.systemNamespace, labels: { ...labels, [LABELS.app]: owner.id } },
          type: "Opaque",
          stringData: Object.fromEntries(Object.entries(data).map(([field, value]) => [field, pulumi.secret(value)])),
        },
        { parent: this },
      );
      new k8s.apiextensions.CustomResource(
        `${owner.id}-push`,
        {
          apiVersion: "external-secrets.io/v1alpha1",
          kind: "PushSecret",
          metadata: { name: sourceName, namespace: args.systemNamespace, labels: { ...labels, [LABELS.app]: owner.id } },
          spec: {
            refreshInterval: store.refreshInterval,
            secretStoreRefs: [{ kind: store.kind, name: store.name }],
            selector: { secret: { name: sourceName } },
            // Replace: a rotation reaches the store. None: deleting the stack never deletes the item.
            updatePolicy: "Replace",
            deletionPolicy: "None",
            // One store item per owner, one field per credential (for the kubernetes provider: one
            // Secret per owner in the vault namespace, one key per credential).
            data: Object.keys(data)
              .sort()
              .map((field) => ({ match: { secretKey: field, remoteRef: { remoteKey: owner.item, property: field } } })),
          },
        },
        { parent: this, dependsOn: [source] },
      );
      this.items[owner.id] = owner.item;
    }
    this.registerOutputs({ items: this.items });
  }

  /**
   * The kubernetes provider: a vault namespace stands in for an external store (for trying it
   * out; it does not survive the loss of the cluster). Returns the store's provider block.
   */
  private inClusterProvider(config: StackConfig, systemNamespace: pulumi.Input<string>, labels: Record<string, string>): Record<string, unknown> {
    const vault = new k8s.core.v1.Namespace(
      "vault-namespace",
      { metadata: { name: `${config.cluster.systemNamespace}-vault`, labels: { ...labels, "pod-security.kubernetes.io/enforce": "restricted" } } },
      { parent: this, retainOnDelete: true },
    );
    const account = new k8s.core.v1.ServiceAccount(
      "vault-account",
      { metadata: { name: "homelab-backups-vault", namespace: systemNamespace, labels } },
      { parent: this },
    );
    const role = new k8s.rbac.v1.Role(
      "vault-role",
      {
        metadata: { name: "homelab-backups-vault", namespace: vault.metadata.name, labels },
        rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }],
      },
      { parent: this },
    );
    new k8s.rbac.v1.RoleBinding(
      "vault-binding",
      {
        metadata: { name: "homelab-backups-vault", namespace: vault.metadata.name, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: systemNamespace }],
      },
      { parent: this },
    );
    const review = new k8s.rbac.v1.ClusterRole(
      "vault-review",
      {
        metadata: { name: "homelab-backups-vault-review", labels },
        rules: [{ apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectrulesreviews"], verbs: ["create"] }],
      },
      { parent: this },
    );
    new k8s.rbac.v1.ClusterRoleBinding(
      "vault-review-binding",
      {
        metadata: { name: "homelab-backups-vault-review", labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: review.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: systemNamespace }],
      },
      { parent: this },
    );
    return {
      kubernetes: {
        remoteNamespace: vault.metadata.name,
        server: { caProvider: { type: "ConfigMap", name: "kube-root-ca.crt", key: "ca.crt", namespace: systemNamespace } },
        auth: { serviceAccount: { name: account.metadata.name, namespace: systemNamespace } },
      },
    };
  }

  /**
   * The store every ExternalSecret and PushSecret refers to, with the given provider block. It is
   * cluster-wide, so conditions keep other namespaces from reading the backup credentials through it.
   */
  private storeResource(config: StackConfig, namespaces: string[], labels: Record<string, string>, provider: Record<string, unknown>): void {
    const store = config.secretStore;
    const conditions = [{ namespaces }];
    new k8s.apiextensions.CustomResource(
      "store",
      { apiVersion: "external-secrets.io/v1", kind: store.kind, metadata: { name: store.name, labels }, spec: { conditions, provider } },
      { parent: this },
    );
  }
}
