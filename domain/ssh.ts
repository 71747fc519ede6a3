/**
 * Runs a script on a machine outside the cluster (TrueNAS, a host) over OpenSSH from wherever
 * Pulumi runs, trusting only the pinned host key. @pulumi/command's remote connection cannot pin
 * a host key, so resources use a local command that runs this wrapper instead.
 *
 * The client key comes from $SSH_PRIVATE_KEY, never the command text. Variables named in
 * `forward` (PULUMI_COMMAND_STDOUT, secrets) are re-exported on the remote side from the local
 * environment, so the remote sshd needs no AcceptEnv. The remote script runs under `sh -s`.
 */

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** "<type> <base64>", e.g. from `ssh-keyscan -t ed25519 <host>`. */
  hostKey: string;
}

const DELIMITER = "HOMELAB_BACKUPS_REMOTE_SCRIPT";

export function knownHosts(target: Pick<SshTarget, "host" | "port" | "hostKey">): string {
  return `${target.port === 22 ? target.host : `[${target.host}]:${target.port}`} ${target.hostKey}`;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function sshScript(target: SshTarget, remoteScript: string, forward: readonly string[] = []): string {
  if (remoteScript.split("\n").includes(DELIMITER)) throw new Error(`the remote script may not contain a line "${DELIMITER}"`);
  for (const name of forward) if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new Error(`cannot forward "${name}": not an environment variable name`);
  return [
    "set -eu",
    'work=$(mktemp -d)',
    "trap 'rm -rf \"$work\"' EXIT",
    "umask 077",
    'printf \'%s\\n\' "$SSH_PRIVATE_KEY" >"$work/key"',
    `printf '%s\\n' ${shellQuote(knownHosts(target))} >"$work/known_hosts"`,
    "quote() { printf \"'%s'\" \"$(printf '%s' \"$1\" | sed \"s/'/'\\\\\\\\''/g\")\"; }",
    "{",
    ...forward.map((name) => `  printf '%s=%s; export %s\\n' ${name} "$(quote "\${${name}:-}")" ${name}`),
    `  cat <<'${DELIMITER}'`,
    remoteScript.replace(/\n$/, ""),
    DELIMITER,
    "} | ssh -i \"$work/key\" -p " +
      String(target.port) +
      ' -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$work/known_hosts" -o GlobalKnownHostsFile=/dev/null' +
      " -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR " +
      shellQuote(`${target.user}@${target.host}`) +
      " sh -s",
    "",
  ].join("\n");
}
