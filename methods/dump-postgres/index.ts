/** PostgreSQL databases outside CloudNativePG, dumped with pg_dump (or pg_dumpall). */
import type { MethodPlugin } from "../types";
import { dumpMethodFor } from "../dumps";
import { postgresDump } from "./engine";
import { expectedBytes, sortedEntries } from "../planning";
import { dumpAfterLostCluster, loadDump } from "../dumps/runbook";
import { postgresIntro, postgresLoad, postgresUserSecrets } from "./runbook";

export const dumpPostgres: MethodPlugin = {
  dataKinds: [
    {
      kind: "postgres",
      configSection: "databases",
      drillController: "cronjob",
      runbook: { intro: postgresIntro, load: (config, item) => loadDump(config, item, postgresLoad), userSecrets: postgresUserSecrets, afterLostCluster: dumpAfterLostCluster },
      appItems: (config, appName, base) =>
        sortedEntries(config.apps[appName].databases).flatMap(([name, db]) =>
          db.engine === "postgres" ? [{ ...base, id: `${appName}/postgres/${name}`, kind: "postgres", name, expectedBytes: expectedBytes(db.expectedSize) }] : [],
        ),
      methodFor: (_config, _item, kind, chosen) => dumpMethodFor(kind, chosen),
      dump: postgresDump,
    },
  ],
};
