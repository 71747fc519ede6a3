/**
 * Job scripts kept as real, shellcheck-clean `.sh` files in their method folders
 * (methods/<method>/*.sh), filled in here: the one place where a template becomes a job's script.
 * methods/tools/shellScript.test.ts runs shellcheck on every methods/**\/*.sh.
 *
 * A template is plain shell. The fill does exactly two things, and nothing else (all logic stays
 * in shell):
 *
 * 1. Includes. A line that is exactly `. <relative path>.sh` (`. ../dumps/dump-common.sh`), the
 *    path starting with `./` or `../` and resolved from the including file's folder, is replaced
 *    by that file's text, itself filled the same way. An included part's leading `#!` and
 *    `# shellcheck ...` directive lines are left out. The result is one self-contained script;
 *    shellcheck follows the same lines (`shellcheck -x`, with `# shellcheck source-path=SCRIPTDIR`
 *    in the file checked).
 * 2. Parameters. Between a line starting `# >>> parameters` and a line starting `# <<< parameters`
 *    every other line must be `NAME=''` (NAME in upper case). Each such line becomes
 *    `NAME=<value>`, the value quoted with shq. Every parameter declared in the template or the
 *    parts it includes must be given, at most once across them, and every given parameter must
 *    be declared; else the fill throws naming it.
 *
 * Templates are read once per process (cached); paths are relative to methods/ (this file's
 * parent folder), so they are found wherever the project is checked out, under ts-node too.
 */
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { shq } from "../../domain/jobs/scripts";

/** The folder holding the method folders: template paths are relative to it. */
export const METHODS_DIR = resolve(__dirname, "..");

/** The parameter block's first and last lines start with these. */
export const PARAMETERS_BEGIN = "# >>> parameters";
export const PARAMETERS_END = "# <<< parameters";

const INCLUDE = /^\. (\.\.?\/[A-Za-z0-9._/-]+\.sh)$/;
const DECLARATION = /^([A-Z][A-Z0-9_]*)=''$/;
const PART_PREAMBLE = /^(#!|# shellcheck )/;

const cache = new Map<string, string>();

function readTemplate(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    text = readFileSync(file, "utf8");
    if (!text.endsWith("\n")) throw new Error(`${display(file)}: does not end with a newline`);
    cache.set(file, text);
  }
  return text;
}

function display(file: string): string {
  return relative(METHODS_DIR, file) || file;
}

/**
 * Fills the template `template` (a path relative to methods/, for example
 * "dump-postgres/dump.sh") with `parameters` and returns the script.
 */
export function shellScript(template: string, parameters: Readonly<Record<string, string>>): string {
  const given = new Map(Object.entries(parameters));
  for (const [name, value] of given) {
    if (!DECLARATION.test(`${name}=''`)) throw new Error(`${template}: parameter ${JSON.stringify(name)} is not an upper-case shell variable name`);
    if (typeof value !== "string" || value.includes("\0")) throw new Error(`${template}: parameter ${name} must be a string without NUL`);
  }
  const declared = new Map<string, string>();
  const lines = expand(resolve(METHODS_DIR, template), [], given, declared);
  const missing = [...declared.keys()].filter((name) => !given.has(name));
  if (missing.length) {
    throw new Error(`${template}: parameter${missing.length > 1 ? "s" : ""} ${missing.join(", ")} declared (${missing.map((m) => declared.get(m)).join(", ")}) but not given`);
  }
  const undeclared = [...given.keys()].filter((name) => !declared.has(name));
  if (undeclared.length) {
    throw new Error(`${template}: parameter${undeclared.length > 1 ? "s" : ""} ${undeclared.join(", ")} given but not declared in the template or the parts it includes`);
  }
  return `${lines.join("\n")}\n`;
}

function expand(file: string, including: readonly string[], given: ReadonlyMap<string, string>, declared: Map<string, string>): string[] {
  if (including.includes(file)) throw new Error(`${display(file)}: included by itself (${[...including, file].map(display).join(" -> ")})`);
  const source = readTemplate(file).slice(0, -1).split("\n");
  let start = 0;
  if (including.length > 0) while (start < source.length && PART_PREAMBLE.test(source[start]!)) start++;
  const out: string[] = [];
  let inBlock = false;
  for (let i = start; i < source.length; i++) {
    const line = source[i]!;
    const where = `${display(file)}:${i + 1}`;
    if (line.startsWith(PARAMETERS_BEGIN)) {
      if (inBlock) throw new Error(`${where}: a parameter block inside a parameter block`);
      inBlock = true;
      out.push(line);
      continue;
    }
    if (line.startsWith(PARAMETERS_END)) {
      if (!inBlock) throw new Error(`${where}: the end of a parameter block that did not begin`);
      inBlock = false;
      out.push(line);
      continue;
    }
    if (inBlock) {
      const name = DECLARATION.exec(line)?.[1];
      if (name === undefined) throw new Error(`${where}: a parameter block holds only NAME='' lines, not ${JSON.stringify(line)}`);
      const earlier = declared.get(name);
      if (earlier !== undefined) throw new Error(`${where}: parameter ${name} is declared twice (first at ${earlier})`);
      declared.set(name, where);
      const value = given.get(name);
      out.push(value === undefined ? line : `${name}=${shq(value)}`);
      continue;
    }
    const include = INCLUDE.exec(line)?.[1];
    if (include !== undefined) {
      out.push(...expand(join(dirname(file), include), [...including, file], given, declared));
      continue;
    }
    out.push(line);
  }
  if (inBlock) throw new Error(`${display(file)}: a parameter block without its end line (${PARAMETERS_END})`);
  return out;
}
