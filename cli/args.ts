import { usageError } from './errors';
import { humanSeconds } from './format';

/** How a command reads each of its options: a value (`--url URL` or `--url=URL`) or a flag (`--json`). */
export type OptionKinds = Record<string, 'value' | 'flag'>;

export interface ParsedArgs {
  readonly values: Record<string, string>;
  readonly flags: Set<string>;
  readonly positionals: string[];
}

/**
 * A small, strict parser: unknown options, repeated options, missing values and extra arguments are usage errors
 * that name the culprit, so that a typo never silently changes what is sent.
 */
export function parseArgs(argv: readonly string[], kinds: OptionKinds, positionals: readonly string[], command: string): ParsedArgs {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const rest: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1) throw usageError(`unknown option ${arg} for \`${command}\` (see \`${command} --help\`)`);
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const kind = kinds[name];
    if (!kind) throw usageError(`unknown option --${name} for \`${command}\` (see \`${command} --help\`)`);
    if (seen.has(name)) throw usageError(`option --${name} is given twice`);
    seen.add(name);
    if (kind === 'flag') {
      if (eq > 0) throw usageError(`option --${name} takes no value`);
      flags.add(name);
      continue;
    }
    let value: string | undefined;
    if (eq > 0) {
      value = arg.slice(eq + 1);
    } else {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw usageError(`option --${name} needs a value`);
      i++;
    }
    values[name] = value;
  }
  if (rest.length > positionals.length) {
    throw usageError(`unexpected argument "${rest[positionals.length]}" for \`${command}\` (see \`${command} --help\`)`);
  }
  if (rest.length < positionals.length) {
    throw usageError(`\`${command}\` needs ${positionals.slice(rest.length).map((p) => p.toUpperCase()).join(' ')} (see \`${command} --help\`)`);
  }
  return { values, flags, positionals: rest };
}

/** A whole number within [min, max], or a usage error naming the option. */
export function integerOption(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw usageError(`--${name} is "${raw}": expected a whole number from ${min} to ${max}`);
  }
  return Number(raw);
}

const UNIT_SECONDS: Record<string, number> = { d: 86_400, h: 3600, m: 60, s: 1 };

/**
 * A duration: whole seconds (`5400`) or units, largest first (`2h`, `1h30m`, `45s`, `1d`), within [min, max] seconds; a
 * usage error naming the option otherwise.
 */
export function durationOption(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^(?:(\d{1,4})d)?(?:(\d{1,5})h)?(?:(\d{1,6})m)?(?:(\d{1,7})s)?$/.exec(raw);
  const seconds = /^[0-9]{1,9}$/.test(raw) ? Number(raw)
    : m && raw !== '' ? ['d', 'h', 'm', 's'].reduce((sum, unit, i) => sum + Number(m[i + 1] ?? 0) * UNIT_SECONDS[unit], 0) : NaN;
  if (!(seconds >= min && seconds <= max)) {
    throw usageError(`--${name} is "${raw}": expected a duration such as 90s, 30m, 2h or 1h30m, from ${humanSeconds(min)} to ${humanSeconds(max)}`);
  }
  return seconds;
}
