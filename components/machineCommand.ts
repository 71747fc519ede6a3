import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { RemoteTask } from "../domain/machines";
import { sshScript, SshTarget } from "../domain/ssh";

/**
 * A task on a machine outside the cluster: a local command that runs the task's create and delete
 * scripts over SSH with the pinned host key. Any change to what it creates replaces it, deleting
 * the old task (by its recorded id) before creating the new one, so nothing is orphaned.
 */
export function machineCommand(
  name: string,
  target: SshTarget,
  task: RemoteTask,
  environment: Record<string, pulumi.Input<string>>,
  opts: pulumi.CustomResourceOptions,
): command.local.Command {
  return new command.local.Command(
    name,
    {
      create: sshScript(target, task.create, task.forward),
      delete: sshScript(target, task.delete, task.forward),
      interpreter: ["/bin/sh", "-c"],
      environment: pulumi.secret(pulumi.output(environment)) as pulumi.Output<Record<string, string>>,
    },
    { ...opts, replaceOnChanges: ["create"], deleteBeforeReplace: true, additionalSecretOutputs: ["environment"] },
  );
}
