import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { kubeName } from "../../domain/naming";
import { dumpSecretRecipe } from "../dumps/manifests";
import { shellQuote } from "../../domain/truenas";
import { code, Lines } from "../../domain/runbookText";

export function postgresIntro(config: StackConfig, item: PlannedItem): Lines {
  const db = config.apps[item.app].databases[item.name];
  if (db.engine !== "postgres") return [];
  return [`PostgreSQL at \`${db.host}:${db.port}\`, ${db.database === "all" ? "every database (pg_dumpall, gzip'd SQL)" : `database \`${db.database}\` (pg_dump custom format)`}; credentials in store item \`${db.credentialsRef}\`.`];
}

export function postgresLoad(config: StackConfig, item: PlannedItem, _dump: PlannedCopy): Lines {
  const ns = item.namespace;
  const db = config.apps[item.app].databases[item.name];
  if (db.engine !== "postgres") return [];
  const secret = dumpSecretRecipe(config, item)!.name;
  const pod = kubeName([item.app, item.name, "restore"]);
  const command = db.database === "all" ? ["psql", "--dbname=postgres", "--set=ON_ERROR_STOP=1"] : ["pg_restore", "--clean", "--if-exists", "--no-owner", `--dbname=${db.database}`];
  const overrides = {
    apiVersion: "v1",
    spec: { containers: [{ name: pod, image: config.images.postgres, stdin: true, command, envFrom: [{ secretRef: { name: secret } }] }] },
  };
  return [
    `Stop the app first. A pod in \`${ns}\` reads the server's address and credentials from the dump job's Secret \`${secret}\` (store item \`${db.credentialsRef}\`) and loads the file from stdin:`,
    "",
    ...code("sh", [
      `${db.database === "all" ? "gunzip -c" : "cat"} ./${item.name}-*.${db.database === "all" ? "sql.gz" : "dump"} | kubectl run -n ${ns} ${pod} -i --rm --restart=Never --image=${config.images.postgres} \\`,
      `  --overrides=${shellQuote(JSON.stringify(overrides))}`,
    ]),
  ];
}

/** A plain PostgreSQL server's login, which the user keeps in the store. */
export function postgresUserSecrets(config: StackConfig, item: PlannedItem): string[] {
  const db = config.apps[item.app].databases[item.name];
  return db.engine === "postgres" ? [`\`${db.credentialsRef}\` (username, password) for the dump of ${item.name}`] : [];
}
