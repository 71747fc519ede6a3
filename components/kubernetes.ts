import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/**
 * Registers a Kubernetes object built by a pure builder in domain/. The builders return plain
 * manifests; the tests validate every emitted object against the real CRD and OpenAPI schemas,
 * which checks more than the SDK's input types would.
 */
export function kubernetesObject(name: string, manifest: Record<string, unknown>, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
  const { apiVersion, kind } = manifest as { apiVersion: string; kind: string };
  switch (`${apiVersion}/${kind}`) {
    case "batch/v1/Job":
      return new k8s.batch.v1.Job(name, manifest as unknown as k8s.batch.v1.JobArgs, opts);
    case "batch/v1/CronJob":
      return new k8s.batch.v1.CronJob(name, manifest as unknown as k8s.batch.v1.CronJobArgs, opts);
    case "v1/PersistentVolumeClaim":
      return new k8s.core.v1.PersistentVolumeClaim(name, manifest as k8s.core.v1.PersistentVolumeClaimArgs, opts);
    case "v1/PersistentVolume":
      return new k8s.core.v1.PersistentVolume(name, manifest as unknown as k8s.core.v1.PersistentVolumeArgs, opts);
    case "v1/ConfigMap":
      return new k8s.core.v1.ConfigMap(name, manifest as k8s.core.v1.ConfigMapArgs, opts);
    default:
      return new k8s.apiextensions.CustomResource(name, manifest as k8s.apiextensions.CustomResourceArgs, opts);
  }
}
