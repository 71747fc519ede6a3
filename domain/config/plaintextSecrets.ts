/**
 * Keys that must hold only secrets (SECRET_KEYS) may not carry a single plaintext value in the
 * stack file. The Pulumi CLI marks a whole config key secret as soon as one of its leaves is a
 * `secure:` value, so a program cannot tell a plaintext leaf beside encrypted ones: only the
 * stack file can.
 */
import { SECRET_KEYS } from "./schema";

const isSecureLeaf = (value: unknown) =>
  value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as { secure?: unknown }).secure === "string";

/** Paths ("credentials.b2.applicationKey") of plaintext leaves under the secret keys of a stack file's project config. */
export function plaintextSecretPaths(projectConfig: Record<string, unknown>): string[] {
  const found: string[] = [];
  const visit = (value: unknown, path: string): void => {
    if (isSecureLeaf(value) || value === null || value === undefined) return;
    if (Array.isArray(value)) return value.forEach((entry, index) => visit(entry, `${path}[${index}]`));
    if (typeof value === "object") return Object.entries(value as Record<string, unknown>).forEach(([key, inner]) => visit(inner, `${path}.${key}`));
    found.push(path);
  };
  for (const key of SECRET_KEYS) visit(projectConfig[key], key);
  return found;
}

/** The message for one plaintext leaf: where it is and the command that stores it encrypted. */
export function plaintextSecretProblem(path: string): string {
  return `${path}: holds plaintext in the stack file; set it with \`pulumi config set --secret --path '${path}' <value>\``;
}
