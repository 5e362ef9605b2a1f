// Reading JSON object keys the way Go's encoding/json matches them to struct fields: an exact
// match first, else a case-insensitive one (where K also matches the Kelvin sign and S the long
// s). Go keeps the last value among keys that match one field, in document order; JSON.parse
// keeps the order of first appearance, so when two different keys fold to one field we cannot
// tell which came last, and refuse. One place to switch to the gojson lane's full decoder.
import { InvalidInputError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fold(key: string): string {
  return key
    .replace(/\u212a/g, 'k')
    .replace(/\u017f/g, 's')
    .replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Parses JSON bytes that Go would decode the same way; invalid UTF-8 (which Go replaces) is refused. */
export function parseGoJson(raw: Buffer, where: string): unknown {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new InvalidInputError(`${where} is not valid UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(`${where} is not valid JSON (${(err as Error).message})`);
  }
}

/** The value Go would decode into the struct field whose JSON name is `field`. */
export function goField(obj: Record<string, unknown>, field: string, where: string): unknown {
  if (Object.hasOwn(obj, field)) {
    const others = Object.keys(obj).filter((k) => k !== field && fold(k) === fold(field));
    if (others.length) throw new InvalidInputError(`${where} has both ${JSON.stringify(field)} and ${JSON.stringify(others[0])}: Go reads whichever comes last, refusing the ambiguity`);
    return obj[field];
  }
  const hits = Object.keys(obj).filter((k) => fold(k) === fold(field));
  if (hits.length > 1) throw new InvalidInputError(`${where} has both ${JSON.stringify(hits[0])} and ${JSON.stringify(hits[1])}: Go reads whichever comes last, refusing the ambiguity`);
  return hits.length ? obj[hits[0]!] : undefined;
}
