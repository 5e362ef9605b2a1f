// Property-based checks of the one grammar that decides what may become a storage path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPath } from '../../src/drivers/driver.js';
import { InvalidPathError, InvalidReferenceError } from '../../src/errors.js';
import { isDigest, parseDigest } from '../../src/image/digest.js';
import { isRepoName, isTag, parseRepoName, parseStoreRef } from '../../src/image/reference.js';
import * as P from '../../src/store/paths.js';

const component = fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/, { size: 'small' });
const repoName = fc
  .array(component, { minLength: 1, maxLength: 4 })
  .map((c) => c.join('/'))
  .filter((n) => n.length <= 255);
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
const hex64 = fc.stringMatching(/^[a-f0-9]{64}$/);
const PATH_RE = /^(\/[A-Za-z0-9._-]+)+$/;

describe('reference grammar', () => {
  it('every valid name, tag and digest builds a path inside the layout with no traversal', () => {
    fc.assert(
      fc.property(repoName, tag, hex64, (name, t, h) => {
        const d = `sha256:${h}` as const;
        for (const p of [P.tagCurrentLinkPath(name, t), P.tagIndexLinkPath(name, t, d), P.layerLinkPath(name, d), P.revisionLinkPath(name, d), P.blobDataPath(d)]) {
          expect(p).toMatch(PATH_RE);
          expect(p.startsWith(`${P.ROOT}/`)).toBe(true);
          expect(p.split('/')).not.toContain('..');
          expect(() => checkPath('test', p)).not.toThrow();
        }
      }),
    );
  });

  it('parseStoreRef round-trips name:tag and name@digest', () => {
    fc.assert(
      fc.property(repoName, tag, hex64, (name, t, h) => {
        expect(parseStoreRef(`${name}:${t}`)).toEqual({ repo: name, tag: t });
        expect(parseStoreRef(`${name}@sha256:${h}`)).toEqual({ repo: name, digest: `sha256:${h}` });
      }),
    );
  });

  it('any string either parses into grammar-valid parts or throws InvalidReferenceError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        try {
          const r = parseStoreRef(s);
          expect(isRepoName(r.repo)).toBe(true);
          if (r.tag !== undefined) expect(isTag(r.tag)).toBe(true);
          if (r.digest !== undefined) expect(isDigest(r.digest)).toBe(true);
          expect(() => P.repoDir(r.repo)).not.toThrow();
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidReferenceError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('names with traversal, absolute paths, NUL or empty components never become paths', () => {
    const hostile = fc.oneof(
      repoName.map((n) => `../${n}`),
      repoName.map((n) => `${n}/..`),
      repoName.map((n) => `/${n}`),
      repoName.map((n) => `${n}/./x`),
      repoName.map((n) => `${n}\0x`),
      repoName.map((n) => `${n}//x`),
    );
    fc.assert(
      fc.property(hostile, (name) => {
        expect(() => P.repoDir(name)).toThrow(InvalidReferenceError);
      }),
    );
  });

  // Upper case and over-long names can exist as directories a store already holds (the registry
  // marks from them, so gc reads them by their stored name); as user input they never pass the parser.
  it('upper case or too long names are refused as user input', () => {
    const outside = fc.oneof(
      repoName.map((n) => n.toUpperCase() + 'X'),
      fc.constant('a'.repeat(256)),
    );
    fc.assert(
      fc.property(outside, (name) => {
        expect(() => parseRepoName(name)).toThrow(InvalidReferenceError);
      }),
    );
  });

  it('digests: only sha256 with 64 lowercase hex', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const d = `sha256:${s}`;
        if (/^[a-f0-9]{64}$/.test(s)) expect(parseDigest(d)).toBe(d);
        else expect(() => parseDigest(d)).toThrow(InvalidReferenceError);
      }),
    );
    expect(() => parseDigest(`sha512:${'a'.repeat(128)}`)).toThrow(/only sha256/);
    expect(() => parseDigest(`SHA256:${'a'.repeat(64)}`)).toThrow(InvalidReferenceError);
  });
});

describe('driver path choke point', () => {
  it('accepts exactly slash-joined [A-Za-z0-9._-] components other than . and ..', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        const p = `/${s}`;
        const ok = p === '/' || (PATH_RE.test(p) && !p.split('/').some((c) => c === '.' || c === '..'));
        if (ok) expect(() => checkPath('t', p)).not.toThrow();
        else expect(() => checkPath('t', p)).toThrow(InvalidPathError);
      }),
      { numRuns: 3000 },
    );
  });
});
