/**
 * C0 control characters, DEL and C1 control characters: to a terminal they are cursor moves, bells, erasures or the
 * start of an escape sequence (ESC, and CSI U+009B on its own). Values from the TVM or its table (a revocation reason,
 * an error message) never reach the terminal with one of them.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/**
 * Invisible format characters (Unicode category Cf: bidirectional overrides and isolates, zero-width characters): they
 * do not move the cursor but reorder or hide what the terminal shows, so a reason could read as something else.
 */
const FORMAT = /\p{Cf}/gu;
/** JSON.stringify already escapes C0 (and quotes and backslashes); DEL and C1 it writes as they are. */
const JSON_UNESCAPED_CONTROL = /[\u007f-\u009f]/g;

const hex = (c: string, digits: number) => c.charCodeAt(0).toString(16).padStart(digits, '0');

/**
 * A value as text that is safe to print: each control character becomes a visible `\xHH` (ESC → `\x1b`), each invisible
 * format character a visible `\u{HHHH}` (RIGHT-TO-LEFT OVERRIDE → `\u{202e}`).
 */
export function printable(value: unknown): string {
  return String(value).replace(CONTROL, (c) => `\\x${hex(c, 2)}`).replace(FORMAT, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** JSON text that is safe to print and parses to the same value: DEL and C1 escaped as `\u00HH`, as C0 already is. */
export function printableJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(JSON_UNESCAPED_CONTROL, (c) => `\\u${hex(c, 4)}`);
}

/** A plain text table: a header row and left-aligned columns separated by two spaces. Cells are made {@link printable}. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined || c === null || c === '' ? '-' : printable(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

/** `key: value` lines, keys aligned. Keys and values are made {@link printable}: both can come from the TVM. */
export function keyValues(entries: readonly (readonly [string, unknown])[]): string {
  const shown = entries.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [printable(k), printable(v)] as const);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join('\n') + '\n';
}

/** 3600 → "1h", 900 → "15m", 5400 → "1h30m". */
export function humanSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}

/** A word a POSIX shell reads as it is: kept when it is plain, else single-quoted (and made {@link printable}). */
export function shellWord(value: string): string {
  const shown = printable(value);
  return /^[\w@%+=:,./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, '\'\\\'\'')}'`;
}
