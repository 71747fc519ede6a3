/**
 * Schedules: what a user may write, how keyword schedules become cron strings, and what a cron
 * string means for recovery points. Cron semantics come from croner; the restricted grammar
 * below is what every controller we target (Kubernetes CronJob, VolSync, SnapScheduler,
 * CloudNativePG) accepts alike.
 */
import { Cron } from "croner";

export const EVERY_HOURS = [1, 2, 3, 4, 6, 8, 12] as const;

export type ScheduleSpec =
  | { kind: "every"; hours: (typeof EVERY_HOURS)[number] }
  | { kind: "daily" }
  | { kind: "weekly" }
  | { kind: "cron"; expression: string };

export const SCHEDULE_HELP =
  'hourly, "every 2h", "every 3h", "every 4h", "every 6h", "every 8h", "every 12h", daily, weekly, or a five-field cron expression such as "30 2 * * *"';

/** The field grammar VolSync's and SnapScheduler's CRDs accept; CronJob and CNPG accept it too. */
const PORTABLE_FIELD = /^(\*(\/\d+)?|\d+(-\d+)?(\/\d+)?(,\d+(-\d+)?)*)$/;
const NICKNAMES = new Set(["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually"]);

/** Returns an error message, or undefined when `expression` is a valid five-field cron string. */
export function cronError(expression: string): string | undefined {
  const trimmed = expression.trim();
  if (NICKNAMES.has(trimmed)) return undefined;
  const fields = trimmed.split(/\s+/);
  if (fields.length === 6) {
    return "has six fields; this schedule takes five (minute hour day-of-month month day-of-week)";
  }
  if (fields.length !== 5) return `has ${fields.length} fields; expected five (minute hour day-of-month month day-of-week)`;
  return fieldError(fields) ?? croneError(trimmed, "5-part");
}

/**
 * CloudNativePG parses ScheduledBackup schedules with robfig/cron v1 and a seconds field first.
 * A five-field string is accepted by the API server but shifted by one field: "0 3 * * *" runs
 * hourly at minute 3. Returns an error message, or undefined for a valid six-field string.
 */
export function cnpgScheduleError(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length === 5) {
    const [minute, hour] = fields;
    return (
      `has five fields, but CloudNativePG schedules have six with seconds first; ` +
      `"${expression.trim()}" would run every hour at minute ${hour}, not at ${hour}:${minute.padStart(2, "0")}. ` +
      `Write "0 ${expression.trim()}"`
    );
  }
  if (fields.length !== 6) return `has ${fields.length} fields; expected six (second minute hour day-of-month month day-of-week)`;
  return fieldError(fields) ?? croneError(expression.trim(), "6-part");
}

function fieldError(fields: string[]): string | undefined {
  const bad = fields.find((field) => !PORTABLE_FIELD.test(field));
  return bad === undefined ? undefined : `field "${bad}" uses syntax outside numbers, *, ranges, lists and steps`;
}

function croneError(expression: string, mode: "5-part" | "6-part"): string | undefined {
  return (mode === "5-part" ? croneError5 : croneError6)(expression);
}

const croneError5 = cached((expression: string) => parseError(expression, "5-part"));
const croneError6 = cached((expression: string) => parseError(expression, "6-part"));

function parseError(expression: string, mode: "5-part" | "6-part"): string | undefined {
  try {
    new Cron(expression, { paused: true, mode, timezone: "UTC" });
    return undefined;
  } catch (error) {
    return `is not a valid cron expression (${(error as Error).message})`;
  }
}

/** Parses a schedule as written in the stack config. */
export function parseSchedule(text: string): ScheduleSpec | { error: string } {
  const value = text.trim();
  if (value === "hourly") return { kind: "every", hours: 1 };
  if (value === "daily") return { kind: "daily" };
  if (value === "weekly") return { kind: "weekly" };
  const every = /^every (\d+)h$/.exec(value);
  if (every) {
    const hours = Number(every[1]);
    const allowed = EVERY_HOURS as readonly number[];
    if (!allowed.includes(hours)) return { error: `"${value}": the hours must divide a day (${EVERY_HOURS.join(", ")})` };
    return { kind: "every", hours: hours as (typeof EVERY_HOURS)[number] };
  }
  const error = cronError(value);
  if (error !== undefined) return { error: `"${value}" ${error}; expected ${SCHEDULE_HELP}` };
  return { kind: "cron", expression: value };
}

export function describeSpec(spec: ScheduleSpec): string {
  switch (spec.kind) {
    case "every":
      return spec.hours === 1 ? "hourly" : `every ${spec.hours}h`;
    case "daily":
    case "weekly":
      return spec.kind;
    case "cron":
      return `cron "${spec.expression}"`;
  }
}

/** A fixed Monday 00:00 UTC; schedule analysis looks at the week that starts here. */
const REFERENCE_WEEK = Date.UTC(2026, 0, 5);
const MINUTE_MS = 60_000;
export const MINUTES_PER_WEEK = 7 * 24 * 60;

/** Pure functions of a cron string, cached: a plan asks the same few schedules thousands of times. */
function cached<T>(compute: (cron: string) => T): (cron: string) => T {
  const cache = new Map<string, T>();
  return (cron) => {
    if (!cache.has(cron)) cache.set(cron, compute(cron));
    return cache.get(cron) as T;
  };
}

/** Minutes from the start of the week at which `cron` (five or six fields) starts, wall-clock. */
export function weeklyStartMinutes(cron: string): number[] {
  return [...weeklyStarts(cron)];
}

const weeklyStarts = cached((cron: string): readonly number[] => {
  const fields = cron.trim().split(/\s+/).length;
  const job = new Cron(cron.trim(), { paused: true, timezone: "UTC", mode: fields === 6 ? "6-part" : "5-part" });
  const starts: number[] = [];
  let cursor = new Date(REFERENCE_WEEK - 1000);
  const end = REFERENCE_WEEK + MINUTES_PER_WEEK * MINUTE_MS;
  for (;;) {
    const next = job.nextRun(cursor);
    if (next === null || next.getTime() >= end) break;
    starts.push(Math.floor((next.getTime() - REFERENCE_WEEK) / MINUTE_MS));
    cursor = next;
  }
  return starts;
});

/**
 * The longest gap between two consecutive runs, in hours, over a repeating week: the worst-case
 * age of the newest recovery point just before a run (job duration not included). Schedules that
 * do not repeat weekly (monthly, yearly) are measured over a year.
 */
export function maxGapHours(cron: string): number {
  return maxGap(cron);
}

const maxGap = cached((cron: string): number => {
  const starts = weeklyStarts(cron);
  if (starts.length === 0) return yearlyMaxGapHours(cron);
  let worst = starts[0] + MINUTES_PER_WEEK - starts[starts.length - 1];
  for (let i = 1; i < starts.length; i++) worst = Math.max(worst, starts[i] - starts[i - 1]);
  return worst / 60;
});

function yearlyMaxGapHours(cron: string): number {
  const fields = cron.trim().split(/\s+/).length;
  const job = new Cron(cron.trim(), { paused: true, timezone: "UTC", mode: fields === 6 ? "6-part" : "5-part" });
  // Nine years hold two runs of even a leap-day cron; nothing weekly-repeating reaches here.
  const end = REFERENCE_WEEK + 9 * 366 * 24 * 3_600_000;
  const runs: Date[] = [];
  for (let next = job.nextRun(new Date(REFERENCE_WEEK)); next && next.getTime() < end && runs.length < 400; next = job.nextRun(next)) runs.push(next);
  if (runs.length < 2) return Infinity;
  let worst = 0;
  for (let i = 1; i < runs.length; i++) worst = Math.max(worst, (runs[i].getTime() - runs[i - 1].getTime()) / 3_600_000);
  return worst;
}

/**
 * The offset of `timeZone` from UTC in minutes outside daylight saving time. Controllers that
 * only know UTC (VolSync, SnapScheduler, CloudNativePG) get schedules shifted by this offset, so
 * their runs drift by the DST hour in summer.
 */
export function standardOffsetMinutes(timeZone: string): number {
  return Math.min(...yearOffsets(timeZone));
}

/** How far the clocks of `timeZone` go forward in daylight saving time, in minutes (0: none). */
export function daylightSavingMinutes(timeZone: string): number {
  const offsets = yearOffsets(timeZone);
  return Math.max(...offsets) - Math.min(...offsets);
}

/** The zone's UTC offsets in minutes in mid-January and mid-July (winter and summer, either hemisphere). */
function yearOffsets(timeZone: string): [number, number] {
  const offsetAt = (epochMs: number): number => {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    }).formatToParts(new Date(epochMs));
    const get = (type: string) => Number(parts.find((part) => part.type === type)?.value);
    const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
    return Math.round((wall - epochMs) / MINUTE_MS);
  };
  return [offsetAt(Date.UTC(2026, 0, 15)), offsetAt(Date.UTC(2026, 6, 15))];
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Rewrites a five-field cron string written in local wall-clock time into UTC, given the zone's
 * standard offset. Supports the shapes the spreader emits and most hand-written ones: a single
 * minute, and an hour field that is "*", a number or a list; day-of-week "*" or a number or list
 * when the hour is fixed. Returns an error string for shapes that cannot be shifted exactly.
 */
export function localCronToUtc(cron: string, offsetMinutes: number): { cron: string } | { error: string } {
  if (offsetMinutes === 0) return { cron };
  if (NICKNAMES.has(cron.trim())) return { error: "nicknames cannot be shifted to UTC; write the time as a cron expression" };
  const [minute, hour, dom, month, dow] = cron.trim().split(/\s+/);
  if (!/^\d+$/.test(minute)) return { error: "the minute must be a single number to shift it to UTC" };
  const utcMinuteOfDay = Number(minute) - offsetMinutes;
  const newMinute = modulo(utcMinuteOfDay, 60);
  if (hour === "*") return { cron: [newMinute, "*", dom, month, dow].join(" ") };
  if (!/^\d+(,\d+)*$/.test(hour)) return { error: "the hour must be *, a number or a list to shift it to UTC" };

  const carryHours = Math.floor(utcMinuteOfDay / 60);
  const shifted = hour.split(",").map((h) => Number(h) + carryHours);
  const hours = [...new Set(shifted.map((h) => modulo(h, 24)))].sort((a, b) => a - b).join(",");
  const dayShifts = new Set(shifted.map((h) => Math.floor(h / 24)));
  const everyDay = dom === "*" && dow === "*";
  if (everyDay) return { cron: [newMinute, hours, dom, month, dow].join(" ") };
  if (dayShifts.size > 1) return { error: "the shift to UTC crosses midnight for some hours but not others" };
  const [dayShift] = dayShifts;
  if (dayShift === 0) return { cron: [newMinute, hours, dom, month, dow].join(" ") };
  if (dom !== "*") return { error: "the shift to UTC moves the run to another day of the month" };
  if (!/^\d+(,\d+)*$/.test(dow)) return { error: "the day-of-week must be * or a list of numbers to shift it to UTC" };
  const days = dow.split(",").map((d) => modulo(Number(d) + dayShift, 7)).sort((a, b) => a - b);
  return { cron: [newMinute, hours, dom, month, days.join(",")].join(" ") };
}

function modulo(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}

/** Human description of a five-field cron string produced by the spreader, in the given zone. */
export function describeCron(cron: string, timeZone: string): string {
  const [minute, hour, dom, month, dow] = cron.trim().split(/\s+/);
  const mm = minute.padStart(2, "0");
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  if (/^\d+$/.test(minute) && dom === "*" && month === "*") {
    if (hour === "*" && dow === "*") return `hourly at :${mm}`;
    if (/^\d+(,\d+)+$/.test(hour) && dow === "*") {
      const list = hour.split(",");
      return `every ${24 / list.length}h at ${list.map((h) => `${h.padStart(2, "0")}:${mm}`).join(", ")} ${timeZone}`;
    }
    if (/^\d+$/.test(hour) && dow === "*") return `daily at ${hour.padStart(2, "0")}:${mm} ${timeZone}`;
    if (/^\d+$/.test(hour) && /^\d$/.test(dow)) return `weekly on ${days[Number(dow)]} at ${hour.padStart(2, "0")}:${mm} ${timeZone}`;
  }
  if (/^\d+$/.test(minute) && /^\d+$/.test(hour) && /^\d+$/.test(dom) && dow === "*") {
    const at = `at ${hour.padStart(2, "0")}:${mm} ${timeZone}`;
    if (month === "*") return `monthly on day ${dom} ${at}`;
    const names = ["", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const months = month.split(",");
    if (/^\d+(,\d+)*$/.test(month)) return `${months.length === 1 ? "yearly" : "every year"} on ${months.map((m) => `${names[Number(m)]} ${dom}`).join(", ")} ${at}`;
  }
  return `cron "${cron}" (${timeZone})`;
}
