/**
 * The job scripts kept as .sh files: every methods/**\/*.sh is shellcheck-clean in the dialect it
 * declares (`# shellcheck shell=...`), and the fill helper (./shellScript.ts) refuses a template
 * and parameters that do not match. Needs shellcheck (Debian package shellcheck).
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { postgresDumpScript, redisDumpScript, SCRIPT_ENV, SCRIPT_TOOLS, ScriptName, sqliteDumpScript, STAMP_GLOB } from "../../domain/jobs/scripts";
import { METHODS_DIR, PARAMETERS_BEGIN, PARAMETERS_END, shellScript } from "./shellScript";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((done, fail) => {
    execFile(command, args, { cwd, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") return fail(error);
      done({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

function shellFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return shellFiles(path);
    return entry.isFile() && entry.name.endsWith(".sh") ? [path] : [];
  });
}

/** The dialect a file declares with its `# shellcheck shell=...` directive (in its first lines). */
function declaredShell(text: string): string | undefined {
  return /^# shellcheck (?:.* )?shell=(sh|dash|ash|bash|ksh|busybox)\b/m.exec(text.split("\n").slice(0, 5).join("\n"))?.[1];
}

/** shellcheck's findings for `file` (following its includes) in `shell`, one "file:line:col: level: message [SCnnnn]" each. */
async function shellcheck(file: string, shell: string): Promise<string[]> {
  // From / so that nothing but the files' own source-path directives can resolve an include.
  const result = await run("shellcheck", ["--external-sources", "--severity=style", "--format=gcc", `--shell=${shell}`, file], "/");
  assert.ok(result.code === 0 || result.code === 1, `shellcheck failed to run on ${file} (status ${result.code}): ${result.stderr}`);
  const findings = result.stdout.split("\n").filter(Boolean);
  assert.equal(findings.length === 0, result.code === 0, `shellcheck's status ${result.code} does not match its findings:\n${result.stdout}${result.stderr}`);
  return findings;
}

const notify = { app: "photos", item: "db", ntfyUrl: "https://ntfy.example/backups" };
const DUMPS: readonly { name: ScriptName; script: () => string }[] = [
  { name: "postgresDump", script: () => postgresDumpScript({ database: "app", keepLast: 7, dir: "/backup/photos", notify }) },
  { name: "postgresDump", script: () => postgresDumpScript({ database: "all", keepLast: 7, dir: "/backup/photos", notify }) },
  { name: "sqliteDump", script: () => sqliteDumpScript({ databasePath: "/data/app.db", keepLast: 7, dir: "/backup/photos", notify }) },
  { name: "redisDump", script: () => redisDumpScript({ keepLast: 7, dir: "/backup/photos", notify }) },
];

describe("job scripts as .sh files (methods/**/*.sh)", function () {
  this.timeout(60_000);
  let scratch: string;
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), "shell-script-"));
  });
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  describe("shellcheck", () => {
    const files = shellFiles(METHODS_DIR);

    it("finds the dump scripts and their shared parts", () => {
      const names = files.map((f) => relative(METHODS_DIR, f)).sort();
      for (const expected of ["dump-postgres/dump.sh", "dump-redis/dump.sh", "dump-sqlite/dump.sh", "dumps/dump-common.sh", "dumps/job-common.sh"]) {
        assert.ok(names.includes(expected), `${expected} is missing from ${names.join(", ")}`);
      }
    });

    for (const file of files) {
      it(`has no finding in ${relative(METHODS_DIR, file)}, in the shell it declares`, async () => {
        const shell = declaredShell(readFileSync(file, "utf8"));
        assert.ok(shell, `${relative(METHODS_DIR, file)} declares no dialect: its first lines need a "# shellcheck shell=sh" (or dash, bash) directive`);
        const findings = await shellcheck(file, shell);
        assert.deepEqual(findings, [], `shellcheck --shell=${shell} on ${relative(METHODS_DIR, file)}:\n${findings.join("\n")}`);
      });
    }

    it("would fail a bad script: unquoted, unassigned and bash-only (negative control)", async () => {
      const bad = join(scratch, "bad.sh");
      writeFileSync(bad, "#!/bin/sh\n# shellcheck shell=sh\nset -eu\nif [[ -n $1 ]]; then rm -rf $target/*; fi\nlocal x=1\n");
      const findings = await shellcheck(bad, declaredShell(readFileSync(bad, "utf8"))!);
      const codes = new Set(findings.map((f) => /\[(SC\d+)\]$/.exec(f)?.[1]));
      for (const code of ["SC3010", "SC2154", "SC2086", "SC3043"]) assert.ok(codes.has(code), `expected ${code} among:\n${findings.join("\n")}`);
    });

    it("would fail an include it cannot follow (negative control)", async () => {
      const dir = join(scratch, "method");
      mkdirSync(dir, { recursive: true });
      const file = join(dir, "job.sh");
      writeFileSync(file, "#!/bin/sh\n# shellcheck shell=sh source-path=SCRIPTDIR\nset -eu\n. ../dumps/missing.sh\n");
      const findings = await shellcheck(file, "sh");
      assert.ok(findings.some((f) => f.includes("[SC1091]")), findings.join("\n"));
    });
  });

  describe("the fill helper", () => {
    /** A template folder under the scratch directory, as a path relative to methods/ for shellScript. */
    function templates(files: Record<string, string>): (file: string) => string {
      const dir = mkdtempSync(join(scratch, "templates-"));
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(join(dir, name, ".."), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
      return (file) => relative(METHODS_DIR, join(dir, file));
    }
    const block = (...names: string[]) => [`${PARAMETERS_BEGIN}: test`, ...names.map((n) => `${n}=''`), PARAMETERS_END];

    it("fills every declared parameter, shell-quoted, and inlines includes", () => {
      const at = templates({
        "job/main.sh": ["#!/bin/sh", "# shellcheck shell=sh source-path=SCRIPTDIR", "set -eu", ...block("NAME"), ". ../lib/part.sh", 'echo "$NAME $OTHER"', ""].join("\n"),
        "lib/part.sh": ["# shellcheck shell=sh", "# a part", ...block("OTHER"), ""].join("\n"),
      });
      const script = shellScript(at("job/main.sh"), { NAME: "it's", OTHER: "x y" });
      assert.equal(
        script,
        ["#!/bin/sh", "# shellcheck shell=sh source-path=SCRIPTDIR", "set -eu", ...block("NAME").map((l) => l.replace("NAME=''", `NAME='it'\\''s'`)), "# a part", `${PARAMETERS_BEGIN}: test`, "OTHER='x y'", PARAMETERS_END, 'echo "$NAME $OTHER"', ""].join("\n"),
      );
    });

    it("names a declared parameter that is not given, and a given one that is not declared", () => {
      const at = templates({
        "job/main.sh": ["#!/bin/sh", ...block("FIRST"), ". ./part.sh", ""].join("\n"),
        "job/part.sh": ["# shellcheck shell=sh", ...block("SECOND"), ""].join("\n"),
      });
      assert.throws(() => shellScript(at("job/main.sh"), { FIRST: "1" }), /parameter SECOND declared \(.*job\/part\.sh:3\) but not given/);
      assert.throws(() => shellScript(at("job/main.sh"), { SECOND: "2" }), /parameter FIRST declared .* but not given/);
      assert.throws(() => shellScript(at("job/main.sh"), { FIRST: "1", SECOND: "2", THIRD: "3" }), /parameter THIRD given but not declared/);
      assert.throws(() => shellScript(at("job/main.sh"), { FIRST: "1", SECOND: "2", lower: "3" }), /parameter "lower" is not an upper-case shell variable name/);
      assert.equal(shellScript(at("job/main.sh"), { FIRST: "1", SECOND: "2" }).includes("FIRST='1'\n"), true);
    });

    it("refuses a malformed parameter block, a parameter declared twice and an include cycle", () => {
      const at = templates({
        "loose.sh": ["#!/bin/sh", `${PARAMETERS_BEGIN}`, "NAME='x'", PARAMETERS_END, ""].join("\n"),
        "open.sh": ["#!/bin/sh", `${PARAMETERS_BEGIN}`, "NAME=''", ""].join("\n"),
        "twice.sh": ["#!/bin/sh", ...block("NAME"), ...block("NAME"), ""].join("\n"),
        "a.sh": ["#!/bin/sh", ". ./b.sh", ""].join("\n"),
        "b.sh": [". ./a.sh", ""].join("\n"),
      });
      assert.throws(() => shellScript(at("loose.sh"), { NAME: "x" }), /loose\.sh:3: a parameter block holds only NAME='' lines/);
      assert.throws(() => shellScript(at("open.sh"), { NAME: "x" }), /open\.sh: a parameter block without its end line/);
      assert.throws(() => shellScript(at("twice.sh"), { NAME: "x" }), /twice\.sh:6: parameter NAME is declared twice/);
      assert.throws(() => shellScript(at("a.sh"), {}), /included by itself/);
    });
  });

  describe("the filled dump scripts", () => {
    for (const [i, dump] of DUMPS.entries()) {
      it(`${dump.name} #${i + 1}: one self-contained script with every parameter filled and its header matching SCRIPT_TOOLS and SCRIPT_ENV`, () => {
        const script = dump.script();
        const lines = script.split("\n");
        // No include is left, and no parameter line is left unfilled.
        assert.deepEqual(lines.filter((l) => /^\. /.test(l)), []);
        assert.deepEqual(lines.filter((l) => /^[A-Z][A-Z0-9_]*=''$/.test(l)), []);
        let inBlock = false;
        let filled = 0;
        for (const line of lines) {
          if (line.startsWith(PARAMETERS_BEGIN)) inBlock = true;
          else if (line.startsWith(PARAMETERS_END)) inBlock = false;
          else if (inBlock) {
            assert.match(line, /^[A-Z][A-Z0-9_]*='[^']+'$/);
            filled++;
          }
        }
        assert.equal(inBlock, false);
        assert.ok(filled >= 5, `only ${filled} parameters filled`);
        for (const name of ["APP", "ITEM", "NTFY_URL", "DIR", "KEEP_LAST"]) assert.match(script, new RegExp(`^${name}='`, "m"));
        assert.equal(/^# Needs: (.*)\.$/m.exec(script)?.[1], SCRIPT_TOOLS[dump.name].join(" "));
        const env = SCRIPT_ENV[dump.name];
        assert.equal(
          /^# Environment: (.*)\.$/m.exec(script)?.[1],
          `${env.required.length ? `${env.required.join(", ")} (required); ` : ""}${env.optional.join(", ")} (optional)`,
        );
        assert.match(script, new RegExp(`^# homelab-backups ${dump.name}: `, "m"));
        // prune's file glob is the STAMP_GLOB the runbooks and drills match dump files with.
        assert.ok(script.includes(`"$DIR/$ITEM"-${STAMP_GLOB}."$EXT"`));
      });
    }

    it("are shellcheck-clean as filled (sh)", async () => {
      for (const [i, dump] of DUMPS.entries()) {
        const file = join(scratch, `filled-${i}.sh`);
        writeFileSync(file, dump.script());
        const findings = await shellcheck(file, "sh");
        assert.deepEqual(findings, [], findings.join("\n"));
      }
    });
  });
});
