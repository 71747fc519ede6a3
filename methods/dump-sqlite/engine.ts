/** SQLite files in an app's claim, copied with the sqlite3 online backup API. */
import { sqliteOwner } from "../dumps/manifests";
import { sqliteDumpScript } from "../../domain/jobs/scripts";
import type { DumpEngine } from "../types";
import { besideApp, SOURCE_MOUNT } from "../../domain/jobPods";

export const sqliteDump: DumpEngine = {
  image: (config) => config.images.sqlite,
  job(config, item, o) {
    const file = config.apps[item.app].sqlite[item.name];
    return {
      script: sqliteDumpScript({ databasePath: `${SOURCE_MOUNT}${file.path}`, ...o }),
      // As the volume's owner, without fsGroup: the app's files keep their owner and group (SQLite
      // may create the -shm and -wal files there). JOB_GID, supplementary, reaches the NAS share.
      ...sqliteOwner(config, item),
      sourceClaim: file.claim,
      affinity: besideApp(file.appSelector ?? { "app.kubernetes.io/name": item.app }),
    };
  },
  drill: () => ({ engine: "sqlite", deadlineSeconds: 2 * 3600 }),
};
