/** What the program knows of restic repositories, for every method that writes one. */
import type { R2LockPrefix } from "../../domain/storage";
import type { Retention } from "../../domain/tiers";

/**
 * restic writes data packs and snapshots once and deletes them only when forgotten and pruned
 * (locked by age); `config` and `keys/` hold the repository's encrypted master key (locked for
 * good). Lock files and indexes are rewritten and stay free.
 */
export function resticLockPrefixes(path: string): R2LockPrefix[] {
  return [
    { prefix: `${path}/data/`, retention: "age" },
    { prefix: `${path}/snapshots/`, retention: "age" },
    { prefix: `${path}/config`, retention: "indefinite" },
    { prefix: `${path}/keys/`, retention: "indefinite" },
  ];
}

/** restic `--keep-<bucket> N` flags in a script: the retention its forget keeps. */
export function keepFlagsIn(text: string): Retention {
  const retention: Record<string, number> = {};
  for (const match of text.matchAll(/--keep-(hourly|daily|weekly|monthly|yearly)[ =](\d+)/g)) retention[match[1]] = Math.max(retention[match[1]] ?? 0, Number(match[2]));
  return retention as Retention;
}
