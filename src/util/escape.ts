// Text read from a store or a source (platforms, annotations, link contents, names, paths) shown
// to a person: control characters must not reach the terminal (an ESC sequence can retitle it,
// move the cursor or hide lines; a newline or tab forges lines and columns).

/** C0 controls, DEL, C1 controls, line/paragraph separators, bidi embeddings, overrides and isolates. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_BUT_LAYOUT_RE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const n = c.charCodeAt(0);
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  if (c === '\r') return '\\r';
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/** One value of stored text, every control character escaped (`\x1b`, `\n`, `\u202e`). */
export function escapeText(s: string): string {
  return s.replace(CONTROL_RE, escapeChar);
}

/** Rendered output made of lines and tab-separated columns: the same, but its own line breaks and tabs kept. */
export function escapeLines(s: string): string {
  return s.replace(CONTROL_BUT_LAYOUT_RE, escapeChar);
}
