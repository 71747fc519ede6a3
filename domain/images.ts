/**
 * Container images the generated jobs run, pinned to exact versions. Override any of them with
 * `images.<name>` in the stack config, ideally with a digest ("...:0.18.1@sha256:...").
 * Nothing is installed at run time: each image already has every tool its script needs.
 */
export const DEFAULT_IMAGES = {
  /** restic: restore checks, dump uploads, rekey jobs, volume canaries (alpine: restic, sh, wget). */
  restic: "docker.io/restic/restic:0.18.1",
  /** Kopia CLI: restore checks of Kopia repositories. */
  kopia: "docker.io/kopia/kopia:0.21.1",
  /** pg_dump / pg_dumpall (alpine: gzip, wget). */
  postgres: "docker.io/library/postgres:18.1-alpine",
  /** redis-cli --rdb (alpine: gzip, wget). */
  redis: "docker.io/library/redis:7.4.2-alpine",
  /** sqlite3 online backup (alpine: gzip, wget). */
  sqlite: "docker.io/keinos/sqlite3:3.47.2",
  /** rsync over SSH to an offsite NAS (alpine: rsync, openssh-client, wget). */
  rsync: "docker.io/instrumentisto/rsync-ssh:alpine3.21",
  /** pgbackrest for CNPG restore drills: the plugin's own sidecar image, so versions match. */
  pgbackrest: "registry.hub.docker.com/dalibo/cnpg-pgbackrest-sidecar:0.0.3",
  /** rclone for restore drills of TrueNAS Cloud Sync copies (alpine: sh, wget). */
  rclone: "docker.io/rclone/rclone:1.71.2",
} as const;

export type ImageName = keyof typeof DEFAULT_IMAGES;

/** An image reference is pinned when it names an exact tag (not "latest") or a digest. */
export function isPinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const lastSegment = image.split("/").pop() ?? "";
  const tag = lastSegment.includes(":") ? lastSegment.split(":").pop()! : "";
  return tag !== "" && tag !== "latest" && /\d/.test(tag);
}
