/**
 * The script a tier-1 bootstrap runs before its claim may be created: it must find at least one
 * snapshot of this volume in the repository. An unreachable endpoint, a wrong password, a missing
 * repository and an empty one all fail, each with its reason. Reads only the environment the
 * mover Secret provides (RESTIC_* / KOPIA_*, AWS_*, SFTP_*).
 */

export function restoreCheckScript(mover: "restic" | "kopia", identity: { username: string; hostname: string }): string {
  return mover === "restic" ? RESTIC_CHECK : kopiaCheck(identity);
}

const EMPTY_HINT =
  "refusing to bootstrap an empty volume over a tier-1 app; if this is the first deploy, set allowEmptyRestore: true on the volume";

const RESTIC_CHECK = `set -eu
if ! reason=$(restic cat config 2>&1 >/dev/null); then
  echo "restore check: cannot open the repository $RESTIC_REPOSITORY: $reason" >&2
  exit 1
fi
snapshots=$(restic snapshots --json --no-lock)
count=$(printf '%s' "$snapshots" | grep -o '"short_id"' | wc -l)
if [ "$count" -eq 0 ]; then
  echo "restore check: $RESTIC_REPOSITORY holds no snapshot; ${EMPTY_HINT}" >&2
  exit 1
fi
echo "restore check: $count snapshot(s) in $RESTIC_REPOSITORY"
`;

function kopiaCheck(identity: { username: string; hostname: string }): string {
  return `set -eu
config=/tmp/kopia/repository.config
mkdir -p /tmp/kopia
${kopiaConnectFunction("/tmp/kopia", "restore check", { keysFromEnvironment: true })}
if ! reason=$(connect 2>&1); then
  echo "restore check: cannot open the repository $KOPIA_REPOSITORY: $reason" >&2
  exit 1
fi
count=$(kopia --config-file="$config" snapshot list --all --json | tr -d ' \\n' | grep -o '"host":"${identity.hostname}","userName":"${identity.username}"' | wc -l)
if [ "$count" -eq 0 ]; then
  echo "restore check: $KOPIA_REPOSITORY holds no snapshot of ${identity.username}@${identity.hostname}; ${EMPTY_HINT}" >&2
  exit 1
fi
echo "restore check: $count snapshot(s) of ${identity.username}@${identity.hostname}"
`;
}

/**
 * The sh function `connect` that connects Kopia to KOPIA_REPOSITORY (filesystem://, s3:// or
 * sftp://) from the environment a VolSync mover Secret provides, with the client config in
 * "$config". `dir` (a directory, created by the caller; a literal path or a "$var/..." word) holds
 * the SSH key and known_hosts that the Secret carries as contents. `who` prefixes its errors.
 * With `keysFromEnvironment`, the S3 keys are left to Kopia's own AWS_* environment lookup.
 */
export function kopiaConnectFunction(dir: string, who: string, options: { keysFromEnvironment?: boolean } = {}): string {
  // Kopia reads --access-key and --secret-access-key from AWS_ACCESS_KEY_ID and
  // AWS_SECRET_ACCESS_KEY itself; as flags they would show in the process list.
  const keys = options.keysFromEnvironment ? "" : ` \\
        --access-key="$AWS_ACCESS_KEY_ID" --secret-access-key="$AWS_SECRET_ACCESS_KEY"`;
  return `connect() {
  case "$KOPIA_REPOSITORY" in
    filesystem://*)
      kopia --config-file="$config" repository connect filesystem --path="\${KOPIA_REPOSITORY#filesystem://}" ;;
    s3://*)
      location=\${KOPIA_REPOSITORY#s3://}
      kopia --config-file="$config" repository connect s3 --bucket="\${location%%/*}" --prefix="\${location#*/}" \\
        --endpoint="$KOPIA_S3_ENDPOINT" --region="\${AWS_REGION:-auto}"${keys} ;;
    sftp://*)
      printf '%s\\n' "$SFTP_KEY_FILE" > ${dir}/key && chmod 600 ${dir}/key
      printf '%s\\n' "$SFTP_KNOWN_HOSTS_DATA" > ${dir}/known_hosts
      kopia --config-file="$config" repository connect sftp --host="$SFTP_HOST" --port="$SFTP_PORT" \\
        --username="$SFTP_USERNAME" --path="$SFTP_PATH" --keyfile=${dir}/key --known-hosts=${dir}/known_hosts ;;
    *)
      echo "${who}: unsupported repository $KOPIA_REPOSITORY" >&2; return 1 ;;
  esac
}`;
}
