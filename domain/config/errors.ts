/**
 * Turns zod issues into messages a user can act on: the config key path, what is valid and what
 * was given ("apps.immich.tier: expected 1, 2 or 3, got \"gold\""), with a did-you-mean for
 * unknown keys. Values under secret keys are never echoed.
 */
import { z } from "zod";
import { distance } from "fastest-levenshtein";
import { SECRET_KEYS } from "./schema";

export type Path = ReadonlyArray<PropertyKey>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function formatPath(path: Path): string {
  if (path.length === 0) return "(top level)";
  return path
    .map((segment, index) => {
      if (typeof segment === "number") return `[${segment}]`;
      const text = String(segment);
      const plain = /^[A-Za-z0-9_-]+$/.test(text);
      if (!plain) return `[${JSON.stringify(text)}]`;
      return index === 0 ? text : `.${text}`;
    })
    .join("");
}

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "a list";
  return "an object";
}

export function listAlternatives(values: readonly unknown[]): string {
  const shown = values.map((value) => (typeof value === "string" ? JSON.stringify(value) : String(value)));
  if (shown.length <= 1) return shown.join("");
  return `${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`;
}

export function didYouMean(given: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(given.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const tolerance = Math.max(2, Math.floor(given.length / 3));
  return best !== undefined && bestDistance <= tolerance ? best : undefined;
}

function isSecretPath(path: Path): boolean {
  return SECRET_KEYS.some((key) => path[0] === key);
}

function valueAt(root: unknown, path: Path): unknown {
  let current: unknown = root;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment as string];
  }
  return current;
}

type AnySchema = z.core.$ZodType;

/** The object keys the schema accepts at `path`, following the input to pick union members. */
export function knownKeysAt(schema: AnySchema, root: unknown, path: Path): string[] {
  let current: AnySchema | undefined = schema;
  for (let i = 0; i <= path.length && current; i++) {
    current = unwrap(current, valueAt(root, path.slice(0, i)));
    if (i === path.length) break;
    const segment = path[i];
    if (current instanceof z.ZodObject) current = current.shape[String(segment)];
    else if (current instanceof z.ZodRecord) current = current.valueType;
    else if (current instanceof z.ZodArray) current = current.element;
    else current = undefined;
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

function unwrap(schema: AnySchema, input: unknown): AnySchema {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault || current instanceof z.ZodPrefault) {
      current = current.unwrap() as AnySchema;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as AnySchema;
    } else if (current instanceof z.ZodDiscriminatedUnion) {
      const key = current.def.discriminator;
      const wanted = input && typeof input === "object" ? (input as Record<string, unknown>)[key] : undefined;
      const match = (current.options as AnySchema[]).find(
        (option) => option instanceof z.ZodObject && (option.shape[key] as z.ZodLiteral).def.values.includes(wanted as never),
      );
      if (!match) return current;
      current = match;
    } else {
      return current;
    }
  }
}

/** One message per problem, sorted by key path. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], schema: AnySchema, root: unknown): string[] {
  const messages = issues.flatMap((issue) => formatIssue(issue, schema, root));
  return [...new Set(messages)].sort();
}

function formatIssue(issue: z.core.$ZodIssue, schema: AnySchema, root: unknown): string[] {
  const path = issue.path;
  const secret = isSecretPath(path);
  const input = "input" in issue ? issue.input : valueAt(root, path);
  const got = secret ? "" : `, got ${describeValue(input)}`;
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = knownKeysAt(schema, root, path);
      return issue.keys.map((key) => {
        const suggestion = didYouMean(key, known);
        const hint = suggestion ? `; did you mean "${suggestion}"?` : ".";
        const valid = known.length > 0 ? ` Valid keys: ${known.join(", ")}.` : "";
        return `${formatPath([...path, key])}: unknown key${hint}${valid}`;
      });
    }
    case "invalid_value":
      if (input === undefined) return [`${formatPath(path)}: is required; expected ${listAlternatives(issue.values)}`];
      return [`${formatPath(path)}: expected ${listAlternatives(issue.values)}${got}`];
    case "invalid_type":
      if (input === undefined) return [`${formatPath(path)}: is required (${article(issue.expected)})`];
      return [`${formatPath(path)}: expected ${article(issue.expected)}${got}`];
    case "invalid_union": {
      if ("discriminator" in issue && typeof issue.discriminator === "string") {
        const options = (issue as { options?: unknown[] }).options ?? [];
        const value = valueAt(root, path);
        const suggestion = typeof value === "string" ? didYouMean(value, options.map(String)) : undefined;
        const hint = suggestion ? `; did you mean "${suggestion}"?` : "";
        const discriminatorPath = path[path.length - 1] === issue.discriminator ? path : [...path, issue.discriminator];
        const required = value === undefined ? "is required; " : "";
        return [`${formatPath(discriminatorPath)}: ${required}expected ${listAlternatives(options)}${value === undefined || secret ? "" : `, got ${describeValue(value)}`}${hint}`];
      }
      return [`${formatPath(path)}: ${issue.message}${got}`];
    }
    case "invalid_key":
      return [`${formatPath(path)}: key ${describeValue(input)} is not valid: ${issue.issues.map((inner) => inner.message).join("; ")}`];
    case "too_small":
    case "too_big":
      return [`${formatPath(path)}: ${boundMessage(issue)}${got}`];
    case "invalid_format":
    case "not_multiple_of":
      return [`${formatPath(path)}: ${issue.message}${got}`];
    case "custom": {
      const echoed = typeof input === "string" && issue.message.includes(JSON.stringify(input));
      const primitive = typeof input === "string" || typeof input === "number";
      return [`${formatPath(path)}: ${issue.message}${primitive && !echoed ? got : ""}`];
    }
    default:
      return [`${formatPath(path)}: ${issue.message}`];
  }
}

/** zod's default bound messages ("Too small: expected number to be >0") in the words of the rest. */
function boundMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  // A schema's own message (from `error:` or `.describe`-level options) wins.
  if (!/^Too (small|big)/.test(issue.message)) return issue.message;
  const small = issue.code === "too_small";
  const inclusive = issue.inclusive !== false;
  const bound = String(issue.code === "too_small" ? issue.minimum : issue.maximum);
  const relation = small ? (inclusive ? "at least" : "more than") : inclusive ? "at most" : "less than";
  switch (issue.origin) {
    case "string":
      return `expected ${relation} ${bound} characters`;
    case "array":
    case "set":
      return `expected ${relation} ${bound} entries`;
    default:
      return `expected a value ${relation} ${bound}`;
  }
}

function article(expected: string): string {
  const words: Record<string, string> = {
    record: "a mapping of names to settings",
    object: "an object",
    array: "a list",
    string: "a string",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
  };
  return words[expected] ?? expected;
}
