/** Renders docs/config.md from the zod schema, so the reference cannot drift from the code. */
import { z } from "zod";
import { PROJECT, stackConfigSchema } from "../domain/config/schema";

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
}

interface Row {
  key: string;
  type: string;
  required: string;
  description: string;
}

const TOP_LEVEL_PLACEHOLDERS: Record<string, string> = {
  destinations: "<destination>",
  apps: "<app>",
  credentials: "<destination>",
  volumes: "<volume>",
  databases: "<database>",
  sqlite: "<file>",
  redis: "<instance>",
};

export function renderConfigDocs(): string {
  const root = z.toJSONSchema(stackConfigSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const lines = [
    "# Stack config reference",
    "",
    "<!-- Generated from domain/config/schema.ts by `npm run docs`; a test fails when this file drifts. -->",
    "",
    `Every key lives under \`${PROJECT}:\` in \`Pulumi.<stack>.yaml\` (for example \`${PROJECT}:apps\`).`,
    "Objects may be written as YAML maps; `pulumi config set --path` edits single leaves.",
    "A wrong key or value is rejected before anything is deployed, with its key path and what is valid.",
    "",
  ];
  for (const [key, schema] of Object.entries(root.properties ?? {})) {
    const required = root.required?.includes(key) ?? false;
    lines.push(`## \`${key}\``, "");
    if (schema.description) lines.push(`${schema.description}.`, "");
    const rows: Row[] = [];
    walk(schema, key, required, rows);
    lines.push("| Key | Type | Required / default | Description |", "| --- | --- | --- | --- |");
    for (const row of rows) lines.push(`| \`${row.key}\` | ${row.type} | ${row.required} | ${row.description} |`);
    lines.push("");
  }
  return lines.join("\n");
}

function walk(schema: JsonSchema, path: string, required: boolean, rows: Row[]): void {
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants && variants.every((variant) => variant.properties)) {
    for (const variant of variants) {
      const discriminator = Object.entries(variant.properties!).find(([, property]) => property.const !== undefined);
      const label = discriminator ? ` (${discriminator[0]}: ${String(discriminator[1].const)})` : "";
      walkObject(variant, path, rows, label);
    }
    return;
  }
  if (schema.properties) {
    // Nested objects get a row of their own when they say what they are; map values do not.
    if (path.includes(".") && schema.description) rows.push(row(schema, path, required));
    walkObject(schema, path, rows, "");
    return;
  }
  if (typeof schema.additionalProperties === "object") {
    const segment = TOP_LEVEL_PLACEHOLDERS[path.split(".").pop()!] ?? "<name>";
    rows.push(row(schema, path, required));
    walk(schema.additionalProperties, `${path}.${segment}`, true, rows);
    return;
  }
  rows.push(row(schema, path, required));
}

function walkObject(schema: JsonSchema, path: string, rows: Row[], label: string): void {
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    const required = schema.required?.includes(key) ?? false;
    const before = rows.length;
    walk(property, `${path}.${key}`, required, rows);
    if (label && rows.length > before) rows[before].description = `${rows[before].description}${label}`.trim();
  }
}

function row(schema: JsonSchema, key: string, required: boolean): Row {
  return {
    key,
    type: typeOf(schema),
    required: schema.default !== undefined ? `default \`${JSON.stringify(schema.default)}\`` : required ? "required" : "optional",
    description: (schema.description ?? "").replace(/\|/g, "\\|"),
  };
}

function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (schema.enum) return schema.enum.map((value) => `\`${JSON.stringify(value)}\``).join(" \\| ");
  if (schema.type === "array") return `list of ${schema.items ? typeOf(schema.items) : "values"}`;
  if (schema.type === "object") return typeof schema.additionalProperties === "object" ? "map" : "object";
  if (schema.type === "integer") {
    const bounded = schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER;
    if (bounded) return `integer ${schema.minimum ?? ""}..${schema.maximum}`;
    return schema.minimum !== undefined ? `integer ≥ ${schema.minimum}` : "integer";
  }
  return Array.isArray(schema.type) ? schema.type.join(" \\| ") : (schema.type ?? "any");
}
