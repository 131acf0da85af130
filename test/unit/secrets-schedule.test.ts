import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextRun, parseSchedule } from '../../src/secrets/schedule.ts';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

test('AutomaticallyAfterDays and rate() give fixed intervals; limits as AWS sets them', () => {
  assert.equal(nextRun(parseSchedule({ AutomaticallyAfterDays: 30 }), at('2026-01-01T00:00:00Z')), at('2026-01-31T00:00:00Z'), '30 days');
  assert.equal(nextRun(parseSchedule({ ScheduleExpression: 'rate(4 hours)' }), at('2026-01-01T00:00:00Z')), at('2026-01-01T04:00:00Z'), 'every four hours');
  assert.equal(nextRun(parseSchedule({ ScheduleExpression: 'rate(10 days)' }), at('2026-01-01T00:00:00Z')), at('2026-01-11T00:00:00Z'), 'ten days');
  for (const bad of [{ AutomaticallyAfterDays: 0 }, { AutomaticallyAfterDays: 1001 }, { ScheduleExpression: 'rate(3 hours)' }, { ScheduleExpression: 'every day' }, {}, { AutomaticallyAfterDays: 1, ScheduleExpression: 'rate(1 day)' }]) {
    assert.throws(() => parseSchedule(bad as never), (e: { code?: string }) => e.code === 'InvalidParameterException', `refused: ${JSON.stringify(bad)}`);
  }
});

test('cron(): next run in UTC, days of week and month, ranges and steps', () => {
  const daily3 = parseSchedule({ ScheduleExpression: 'cron(0 3 * * ? *)' });
  assert.equal(iso(nextRun(daily3, at('2026-01-01T02:59:00Z'))), '2026-01-01T03:00:00.000Z', 'later the same day');
  assert.equal(iso(nextRun(daily3, at('2026-01-01T03:00:00Z'))), '2026-01-02T03:00:00.000Z', 'strictly after');
  const mondays = parseSchedule({ ScheduleExpression: 'cron(30 8 ? * MON *)' });
  assert.equal(iso(nextRun(mondays, at('2026-11-23T09:00:00Z'))), '2026-11-30T08:30:00.000Z', 'next Monday (2026-11-23 is a Monday, past 08:30)');
  const firstOfQuarter = parseSchedule({ ScheduleExpression: 'cron(0 0 1 1/3 ? *)' });
  assert.equal(iso(nextRun(firstOfQuarter, at('2026-02-10T00:00:00Z'))), '2026-04-01T00:00:00.000Z', 'months 1, 4, 7, 10');
  const twiceDaily = parseSchedule({ ScheduleExpression: 'cron(0 6,18 * * ? *)' });
  assert.equal(iso(nextRun(twiceDaily, at('2026-01-01T07:00:00Z'))), '2026-01-01T18:00:00.000Z', 'a list of hours');
  const year = parseSchedule({ ScheduleExpression: 'cron(0 12 1 JAN ? 2030)' });
  assert.equal(iso(nextRun(year, at('2026-01-01T00:00:00Z'))), '2030-01-01T12:00:00.000Z', 'a year field and month names');
});

test('cron(): AWS rules refused with InvalidParameterException', () => {
  for (const e of ['cron(0 3 * * *)', 'cron(0 3 * * * *)', 'cron(0 3 ? * ? *)', 'cron(0/30 * * * ? *)', 'cron(0 1,2 * * ? *)', 'cron(0 3 L * ? *)', 'cron(0 25 * * ? *)', 'cron(0 3 * 13 ? *)']) {
    assert.throws(() => parseSchedule({ ScheduleExpression: e }), (x: { code?: string }) => x.code === 'InvalidParameterException', `refused: ${e}`);
  }
});
