/** pg_dump (one database, custom format) or pg_dumpall (every database, gzip'd SQL). */
import type { StackConfig } from "../../domain/config/schema";
import type { PlannedItem } from "../../domain/model";
import { postgresDumpScript } from "../../domain/jobs/scripts";
import type { DumpEngine } from "../types";
import { JOB_GID, JOB_UID } from "../../domain/jobPods";

/** The alpine postgres image's postgres user: initdb refuses root and wants a real account. */
export const ALPINE_POSTGRES_UID = 70;

function database(config: StackConfig, item: PlannedItem) {
  const db = config.apps[item.app].databases[item.name];
  if (db.engine !== "postgres") throw new Error(`${item.id} is not a postgres dump`);
  return db;
}

export const postgresDump: DumpEngine = {
  image: (config) => config.images.postgres,
  credentials(config, item) {
    const db = database(config, item);
    return {
      values: [
        { variable: "username", item: db.credentialsRef, field: "username" },
        { variable: "password", item: db.credentialsRef, field: "password" },
      ],
      template: { PGHOST: db.host, PGPORT: String(db.port), PGUSER: "{{ .username }}", PGPASSWORD: "{{ .password }}" },
    };
  },
  job: (config, item, o) => ({ script: postgresDumpScript({ database: database(config, item).database, ...o }), uid: JOB_UID, gid: JOB_GID }),
  drill: (config, item) => ({
    engine: database(config, item).database === "all" ? "postgres-all" : "postgres",
    uid: ALPINE_POSTGRES_UID,
    deadlineSeconds: 6 * 3600,
  }),
};
