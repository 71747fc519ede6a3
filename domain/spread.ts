/**
 * Spreads keyword schedules ("hourly", "daily", ...) over the clock so that many jobs do not all
 * start in the same minute, deterministically: the same requests always give the same crons.
 *
 * Jobs are placed one at a time, most frequent first, each at the candidate start that keeps the
 * busiest minute of the week lowest; ties go to the candidate nearest a position hashed from the
 * job id, so a job tends to keep its slot when unrelated jobs change. Jobs of one group (the
 * copies of one piece of data) start at least `gapMinutes` apart, so an offsite copy never starts
 * while the on-site copy of the same volume runs.
 */
import { createHash } from "node:crypto";
import { MINUTES_PER_WEEK, ScheduleSpec, weeklyStartMinutes } from "./schedule";
import { compareText } from "./compare";

export interface ScheduleRequest {
  /** Unique job id, e.g. "immich/volume/library@b2". */
  id: string;
  /** Jobs of the same group are kept apart. */
  group: string;
  spec: ScheduleSpec;
  /** Minutes this job keeps from the other jobs of its group (default DEFAULT_GROUP_GAP_MINUTES). */
  gapMinutes?: number;
}

export interface BackupWindow {
  /** First local hour daily and weekly jobs may start in. */
  startHour: number;
  /** How many hours the window spans. */
  hours: number;
  /** Day of week for weekly jobs (0 = Sunday). */
  weeklyDay: number;
}

export interface SpreadResult {
  /** Five-field cron per job id, in local wall-clock time. */
  crons: Map<string, string>;
  /** The most jobs that start in one minute of the week. */
  peakStarts: number;
  /** Minute of the week (0 = Monday 00:00) where the peak first occurs. */
  peakMinuteOfWeek: number;
}

export const DEFAULT_GROUP_GAP_MINUTES = 20;

interface Candidate {
  cron: string;
  /** Minutes of the week at which the job would start. */
  starts: number[];
}

export function spreadSchedules(requests: readonly ScheduleRequest[], window: BackupWindow): SpreadResult {
  const load = new Uint16Array(MINUTES_PER_WEEK);
  const crons = new Map<string, string>();
  // Per group, the minutes of the week another member of the group may not start in.
  const busy = new Map<string, Uint8Array>();
  const occupy = (request: ScheduleRequest, starts: readonly number[]) => {
    const gap = request.gapMinutes ?? DEFAULT_GROUP_GAP_MINUTES;
    let minutes = busy.get(request.group);
    if (!minutes) busy.set(request.group, (minutes = new Uint8Array(MINUTES_PER_WEEK)));
    for (const start of starts) {
      load[start]++;
      for (let d = 1 - gap; d < gap; d++) minutes[(start + d + MINUTES_PER_WEEK) % MINUTES_PER_WEEK] = 1;
    }
  };

  // Fixed crons first: they are not ours to move, but the others must avoid them.
  for (const request of requests) {
    if (request.spec.kind !== "cron") continue;
    crons.set(request.id, request.spec.expression);
    occupy(request, weeklyStartMinutes(request.spec.expression));
  }

  const movable = requests.filter((request) => request.spec.kind !== "cron");
  movable.sort((a, b) => frequencyRank(a.spec) - frequencyRank(b.spec) || compareText(a.id, b.id));
  for (const request of movable) {
    const candidates = candidatesFor(request.spec, window);
    const preferred = hashIndex(request.id, candidates.length);
    const groupBusy = busy.get(request.group);
    let best = 0;
    let bestScore = [Infinity, Infinity, Infinity];
    candidates.forEach((candidate, index) => {
      let clashes = 0;
      let peak = 0;
      for (const start of candidate.starts) {
        if (groupBusy?.[start]) clashes++;
        peak = Math.max(peak, load[start] + 1);
      }
      const score = [clashes, peak, circularDistance(index, preferred, candidates.length)];
      if (lexicallyLess(score, bestScore)) {
        best = index;
        bestScore = score;
      }
    });
    crons.set(request.id, candidates[best].cron);
    occupy(request, candidates[best].starts);
  }

  const { peak, minuteOfWeek } = busiestMinute(load);
  return { crons, peakStarts: peak, peakMinuteOfWeek: minuteOfWeek };
}

function busiestMinute(load: Uint16Array): { peak: number; minuteOfWeek: number } {
  let peak = 0;
  let minuteOfWeek = 0;
  load.forEach((count, minute) => {
    if (count > peak) {
      peak = count;
      minuteOfWeek = minute;
    }
  });
  return { peak, minuteOfWeek };
}

/** Counts the starts of arbitrary crons (five or six fields) per minute of the week. */
export function peakStarts(crons: readonly string[]): { peak: number; minuteOfWeek: number } {
  const load = new Uint16Array(MINUTES_PER_WEEK);
  for (const cron of crons) for (const start of weeklyStartMinutes(cron)) load[start]++;
  return busiestMinute(load);
}

export function describeMinuteOfWeek(minuteOfWeek: number): string {
  const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const day = Math.floor(minuteOfWeek / 1440);
  const hour = Math.floor((minuteOfWeek % 1440) / 60);
  const minute = minuteOfWeek % 60;
  return `${days[day]} ${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}`;
}

function frequencyRank(spec: ScheduleSpec): number {
  switch (spec.kind) {
    case "every":
      return spec.hours;
    case "daily":
      return 24;
    case "weekly":
      return 168;
    case "cron":
      return 0;
  }
}

/** Cron day-of-week (0 = Sunday) to our week index (0 = Monday). */
function weekIndex(cronDay: number): number {
  return (cronDay + 6) % 7;
}

function candidatesFor(spec: ScheduleSpec, window: BackupWindow): Candidate[] {
  const candidates: Candidate[] = [];
  const windowHours = Array.from({ length: window.hours }, (_, i) => (window.startHour + i) % 24);
  if (spec.kind === "every") {
    for (let phase = 0; phase < spec.hours; phase++) {
      const hours = Array.from({ length: 24 / spec.hours }, (_, i) => phase + i * spec.hours);
      for (let minute = 0; minute < 60; minute++) {
        const starts: number[] = [];
        for (let day = 0; day < 7; day++) for (const hour of hours) starts.push(day * 1440 + hour * 60 + minute);
        const hourField = spec.hours === 1 ? "*" : hours.join(",");
        candidates.push({ cron: `${minute} ${hourField} * * *`, starts });
      }
    }
  } else if (spec.kind === "daily") {
    for (const hour of windowHours) {
      for (let minute = 0; minute < 60; minute++) {
        const starts = Array.from({ length: 7 }, (_, day) => day * 1440 + hour * 60 + minute);
        candidates.push({ cron: `${minute} ${hour} * * *`, starts });
      }
    }
  } else if (spec.kind === "weekly") {
    for (const hour of windowHours) {
      for (let minute = 0; minute < 60; minute++) {
        const start = weekIndex(window.weeklyDay) * 1440 + hour * 60 + minute;
        candidates.push({ cron: `${minute} ${hour} * * ${window.weeklyDay}`, starts: [start] });
      }
    }
  }
  return candidates;
}

function hashIndex(id: string, size: number): number {
  return createHash("sha256").update(id).digest().readUInt32BE(0) % size;
}

function circularDistance(a: number, b: number, size: number): number {
  const d = Math.abs(a - b) % size;
  return Math.min(d, size - d);
}

function lexicallyLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] < b[i];
  }
  return false;
}
