import { InvalidParameterException } from './errors.ts';

/** A rotation schedule: every N days (AutomaticallyAfterDays or rate(N days)), every N hours (rate), or an AWS cron expression. */
export type Schedule = { kind: 'every'; ms: number } | { kind: 'cron'; fields: CronFields };

interface CronFields {
  minutes: Set<number>;
  hours: Set<number>;
  daysOfMonth: Set<number> | '?';
  months: Set<number>;
  daysOfWeek: Set<number> | '?';
  years: Set<number> | '*';
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function field(text: string, lo: number, hi: number, names: string[] = [], nameBase = lo): Set<number> {
  const out = new Set<number>();
  const value = (v: string): number => {
    const i = names.indexOf(v.toUpperCase());
    const n = i >= 0 ? i + nameBase : Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new InvalidParameterException(`Invalid cron field value '${v}'.`);
    return n;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new InvalidParameterException(`Invalid cron step '${part}'.`);
    let from: number;
    let to: number;
    if (range === '*') [from, to] = [lo, hi];
    else if (range!.includes('-')) {
      const [a, b] = range!.split('-');
      [from, to] = [value(a!), value(b!)];
    } else {
      from = value(range!);
      to = stepText === undefined ? from : hi;
    }
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return out;
}

/**
 * Parses RotationRules: AutomaticallyAfterDays (1 to 1000) or ScheduleExpression rate(N hours|days) / cron(min hour dom month dow year).
 * As on AWS, rotation may not be more frequent than every four hours. Cron's L, W and # forms are refused (not supported here).
 */
export function parseSchedule(rules: { AutomaticallyAfterDays?: number; ScheduleExpression?: string }): Schedule {
  if (rules.AutomaticallyAfterDays !== undefined && rules.ScheduleExpression !== undefined) {
    throw new InvalidParameterException('Specify either AutomaticallyAfterDays or ScheduleExpression, not both.');
  }
  if (rules.AutomaticallyAfterDays !== undefined) {
    const d = rules.AutomaticallyAfterDays;
    if (!Number.isInteger(d) || d < 1 || d > 1000) throw new InvalidParameterException('AutomaticallyAfterDays must be between 1 and 1000.');
    return { kind: 'every', ms: d * DAY };
  }
  const e = rules.ScheduleExpression?.trim();
  if (!e) throw new InvalidParameterException('RotationRules needs AutomaticallyAfterDays or ScheduleExpression.');
  const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(e);
  if (rate) {
    const n = Number(rate[1]);
    const ms = n * (rate[2]!.startsWith('hour') ? HOUR : DAY);
    if (ms < 4 * HOUR || n > 1000 * (rate[2]!.startsWith('hour') ? 24 : 1)) throw new InvalidParameterException('The rotation schedule must be at least every 4 hours and at most every 1000 days.');
    return { kind: 'every', ms };
  }
  const cron = /^cron\((.+)\)$/.exec(e);
  if (!cron) throw new InvalidParameterException(`Invalid ScheduleExpression: ${e}`);
  const parts = cron[1]!.trim().split(/\s+/);
  if (parts.length !== 6) throw new InvalidParameterException('A cron expression has six fields: minutes hours day-of-month month day-of-week year.');
  if (parts.some((p) => /[LW#]/.test(p))) throw new InvalidParameterException('The L, W and # cron forms are not supported by Trent.');
  const [min, hour, dom, mon, dow, year] = parts as [string, string, string, string, string, string];
  if ((dom === '?') === (dow === '?')) throw new InvalidParameterException('Exactly one of day-of-month and day-of-week must be ?.');
  const fields: CronFields = {
    minutes: field(min, 0, 59),
    hours: field(hour, 0, 23),
    daysOfMonth: dom === '?' ? '?' : field(dom, 1, 31),
    months: field(mon, 1, 12, MONTHS, 1),
    daysOfWeek: dow === '?' ? '?' : field(dow, 1, 7, DAYS, 1),
    years: year === '*' ? '*' : field(year, 1970, 2199),
  };
  // At most every four hours: two runs closer than that within a day are refused.
  if (fields.minutes.size > 1 || [...fields.hours].sort((a, b) => a - b).some((h, i, a) => i > 0 && h - a[i - 1]! < 4)) {
    throw new InvalidParameterException('The rotation schedule must be at least every 4 hours.');
  }
  return { kind: 'cron', fields };
}

/** The first time after `after` (UTC) that the schedule fires. */
export function nextRun(s: Schedule, after: number): number {
  if (s.kind === 'every') return after + s.ms;
  const f = s.fields;
  const d = new Date(Math.floor(after / 60_000) * 60_000 + 60_000);
  // Walk day by day (at most about five years), then pick the first matching hour and minute of a matching day.
  for (let i = 0; i < 366 * 5; i++) {
    const y = d.getUTCFullYear();
    const m = d.getUTCMonth() + 1;
    const dom = d.getUTCDate();
    const dow = d.getUTCDay() + 1;
    const dayOk = (f.years === '*' || f.years.has(y)) && f.months.has(m) && (f.daysOfMonth === '?' || f.daysOfMonth.has(dom)) && (f.daysOfWeek === '?' || f.daysOfWeek.has(dow));
    if (dayOk) {
      for (const h of [...f.hours].sort((a, b) => a - b)) {
        for (const mi of [...f.minutes].sort((a, b) => a - b)) {
          const t = Date.UTC(y, m - 1, dom, h, mi);
          if (t > after) return t;
        }
      }
    }
    d.setUTCDate(d.getUTCDate() + 1);
    d.setUTCHours(0, 0, 0, 0);
  }
  throw new InvalidParameterException('The cron expression never fires.');
}
