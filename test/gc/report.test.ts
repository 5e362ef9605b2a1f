// The report: --json streams the long lists entry by entry and must say exactly what the built
// report says; durations parse and print in one grammar; the digest set keeps a million digests.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { DigestSet } from '../../src/gc/digest-set.js';
import { buildReport, reportJson } from '../../src/gc/report.js';
import { collectGc } from '../../src/gc/run.js';
import { formatDuration, parseDuration } from '../../src/util/duration.js';
import { blob, image, memoryStore, orphan } from './store-builder.js';

const opts = { dryRun: true, deleteUntagged: true, minAgeMs: 0, uploadsOlderThanMs: 1e12, concurrency: 4 };

describe('gc report', () => {
  it('streamed --json text is the built report, byte for byte', async () => {
    const { d } = memoryStore();
    for (let i = 0; i < 5; i++) await image(d, `r${i % 2}`, { tag: 'v' });
    for (let i = 0; i < 3; i++) await orphan(d);
    await blob(d, 'r0', Buffer.from('linked, unused'));
    const input = await collectGc(d, { ...opts, now: Date.now() + 1000 });
    const streamed = [...reportJson(input)].join('');
    expect(streamed).toBe(JSON.stringify(buildReport(input), null, 2));
    const parsed = JSON.parse(streamed) as { lists: { blobs: unknown[]; layerLinks: unknown[] } };
    expect(parsed.lists.blobs).toHaveLength(input.plan.blobs.length);
    expect(parsed.lists.layerLinks.length).toBeGreaterThan(0);
  });

  it('streams empty lists as []', async () => {
    const { d } = memoryStore();
    await image(d, 'a', { tag: 'v' });
    const input = await collectGc(d, { ...opts, now: Date.now() + 1000 });
    const streamed = [...reportJson(input)].join('');
    expect(streamed).toBe(JSON.stringify(buildReport(input), null, 2));
    expect(streamed).toContain('"blobs": []');
  });
});

describe('durations', () => {
  it.each([
    ['0', 0],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
  ])('%s is %d ms', (s, ms) => {
    expect(parseDuration(s)).toBe(ms);
  });

  it.each(['', '1', '-1h', '1y', 'h', '1 h', '1h-', 'soon'])('%j is refused naming the flag (exit 2)', (s) => {
    expect(() => parseDuration(s, '--min-age')).toThrow(InvalidInputError);
    expect(() => parseDuration(s, '--min-age')).toThrow(/--min-age/);
  });

  it('prints back in the same units', () => {
    expect([0, 90_000, 3_600_000, 5_400_000, 604_800_000, 1500].map(formatDuration)).toEqual(['0', '1m30s', '1h', '1h30m', '7d', '1s500ms']);
  });
});

describe('digest set', () => {
  it('finds what it holds, by digest or hex, across growth, and sorts in digest order', () => {
    const s = new DigestSet(16);
    const hexes = Array.from({ length: 5000 }, () => randomBytes(32).toString('hex'));
    hexes.forEach((h, i) => expect(s.add(i % 2 ? h : `sha256:${h}`)).toBe(i));
    hexes.forEach((h, i) => {
      expect(s.indexOf(`sha256:${h}`)).toBe(i);
      expect(s.add(h)).toBe(i);
      expect(s.hex(i)).toBe(h);
    });
    expect(s.size).toBe(5000);
    expect(s.has(randomBytes(32).toString('hex'))).toBe(false);
    const sorted = [...s.sortIndices(hexes.map((_, i) => i))].map((i) => s.hex(i));
    expect(sorted).toEqual([...hexes].sort());
  });

  it('holds a million digests in well under 100 MB', () => {
    const s = new DigestSet();
    const buf = randomBytes(32);
    for (let i = 0; i < 1_000_000; i++) {
      buf.writeUInt32BE(i, i % 2 ? 0 : 28); // half of them share their first bytes
      s.add(buf.toString('hex'));
    }
    expect(s.size).toBe(1_000_000);
    expect(s.bytes).toBeLessThan(100 * 1024 * 1024);
  });
});
