// Markdown (the subset docs/commands/*.md use) to a roff man page: headings, paragraphs, bullet
// lists, fenced code, tables as preformatted text, `code`, **bold**, [links](x). No network,
// no external tool: scripts/build-man.mjs runs it at build time (prepack), so the package ships
// man/man1/regbucket*.1 (package.json "man").

function escapeText(s: string): string {
  return s.replace(/\\/g, '\\e').replace(/-/g, '\\-');
}

function inline(s: string): string {
  // Code spans first, so their contents are not read as markup.
  const parts = s.split(/(`[^`]+`)/);
  return parts
    .map((p) => {
      if (p.startsWith('`') && p.endsWith('`') && p.length > 1) return `\\fB${escapeText(p.slice(1, -1))}\\fR`;
      return escapeText(p)
        .replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR')
        .replace(/\[([^\]]+)\]\([^)]+\)/g, '$1');
    })
    .join('');
}

/** A roff line must not start with `.` or `'` (a request): guard it with \&. */
function line(s: string): string {
  return /^[.']/.test(s) ? `\\&${s}` : s;
}

export function markdownToRoff(md: string, date: string, version: string): string {
  const src = md.replace(/<!--[\s\S]*?-->\n?/g, '').split('\n');
  const out: string[] = [];
  let i = 0;
  const title = /^# (\S+)\((\d)\)/.exec(src[0] ?? '');
  if (title) {
    out.push(`.TH "${title[1]!.toUpperCase()}" "${title[2]}" "${date}" "regbucket ${version}" "regbucket manual"`);
    // Left-aligned, no hyphenation: JSON shapes and long flags are single words that cannot be spread.
    out.push('.ad l', '.nh');
    i = 1;
  }
  let para: string[] = [];
  const flush = (): void => {
    if (para.length) out.push('.PP', ...para.map((p) => line(inline(p))));
    para = [];
  };
  for (; i < src.length; i++) {
    const l = src[i]!;
    if (l.startsWith('```')) {
      flush();
      out.push('.PP', '.RS 4', '.nf');
      for (i++; i < src.length && !src[i]!.startsWith('```'); i++) out.push(line(escapeText(src[i]!)));
      out.push('.fi', '.RE');
    } else if (l.startsWith('## ')) {
      flush();
      out.push(`.SH ${escapeText(l.slice(3).toUpperCase())}`);
    } else if (l.startsWith('### ')) {
      flush();
      out.push(`.SS ${inline(l.slice(4))}`);
    } else if (/^\s*[-*] /.test(l)) {
      flush();
      let item = l.replace(/^\s*[-*] /, '');
      while (i + 1 < src.length && /^\s{2,}\S/.test(src[i + 1]!) && !/^\s*[-*] /.test(src[i + 1]!)) item += ` ${src[++i]!.trim()}`;
      out.push('.IP \\(bu 2', line(inline(item)));
    } else if (l.startsWith('|')) {
      flush();
      out.push('.PP', '.nf');
      for (; i < src.length && src[i]!.startsWith('|'); i++) {
        if (/^\|[\s|:-]+\|$/.test(src[i]!)) continue;
        out.push(line(inline(src[i]!.replace(/^\|\s*|\s*\|$/g, '').replace(/\s*\|\s*/g, '  |  '))));
      }
      i--;
      out.push('.fi');
    } else if (l.trim() === '') {
      flush();
    } else {
      para.push(l);
    }
  }
  flush();
  return `${out.join('\n')}\n`;
}
