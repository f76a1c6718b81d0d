import { arnParts, withoutRolePath } from '../src/shared/principal-patterns';

/**
 * A principal ARN pattern compiled for IAM-style matching, as the ArnLike condition operator does it: pattern and ARN
 * are split into their six `:`-separated parts (the resource keeps any further `:`) and each part is matched on its
 * own, so `*` never crosses a `:`. Within a part `*` matches any run of characters (`/` included) and `?` exactly one;
 * everything else matches literally and case-sensitively.
 *
 * A role pattern with a literal path matches by role name (`role/ci/Deploy` as `role/Deploy`): an assumed-role ARN,
 * and so the role ARN derived from it, carries no path, and role names are unique in an account.
 */
export interface ArnPattern {
  matches(arn: string): boolean;
}

/** One part of a pattern: the literal runs between its `*`s, `?` standing for any one character within a run. */
type Glob = readonly string[];

// No regular expressions: a backtracking regex of a many-star pattern took seconds on a long user ARN (review L4).
// Here each run between stars is placed at its leftmost fit, which is enough because the next star absorbs any gap,
// so deciding a part costs at most its length times the pattern's.
function globMatches(runs: Glob, text: string): boolean {
  if (runs.length === 1) return runs[0].length === text.length && runAt(runs[0], text, 0);
  const first = runs[0];
  const last = runs[runs.length - 1];
  const end = text.length - last.length;
  if (end < first.length || !runAt(first, text, 0) || !runAt(last, text, end)) return false;
  let from = first.length;
  for (let i = 1; i < runs.length - 1; i++) {
    const at = indexOfRun(runs[i], text, from, end);
    if (at < 0) return false;
    from = at + runs[i].length;
  }
  return true;
}

function runAt(run: string, text: string, at: number): boolean {
  for (let i = 0; i < run.length; i++) {
    if (run[i] !== '?' && run[i] !== text[at + i]) return false;
  }
  return true;
}

function indexOfRun(run: string, text: string, from: number, end: number): number {
  for (let at = from; at + run.length <= end; at++) {
    if (runAt(run, text, at)) return at;
  }
  return -1;
}

/** The parts of the ARN to match, and for a role with a path its path-less form too (as patterns are normalized). */
function candidates(arn: string): string[][] {
  const parts = arnParts(arn);
  if (!parts) return [];
  const pathless = withoutRolePath(parts[5]);
  return pathless === parts[5] ? [parts] : [parts, [...parts.slice(0, 5), pathless]];
}

class CompiledPattern implements ArnPattern {
  /** Undefined for a pattern without six parts, which matches nothing (fail closed). */
  private readonly parts: Glob[] | undefined;

  constructor(pattern: string) {
    const parts = arnParts(pattern);
    if (parts) parts[5] = withoutRolePath(parts[5]);
    this.parts = parts?.map((part) => part.split('*'));
  }

  public matches(arn: string): boolean {
    return candidates(arn).some((parts) => this.matchesParts(parts));
  }

  public matchesParts(parts: readonly string[]): boolean {
    return this.parts !== undefined && this.parts.every((glob, i) => globMatches(glob, parts[i]));
  }
}

/** Compiles one pattern; linear in the ARN's length for a given pattern, whatever its wildcards. */
export function compileArnPattern(pattern: string): ArnPattern {
  return new CompiledPattern(pattern);
}

/** A compiled list of patterns. */
export class PrincipalMatcher {
  private readonly patterns: CompiledPattern[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.map((p) => new CompiledPattern(p));
  }

  public matches(arn: string): boolean {
    const parts = candidates(arn);
    return this.patterns.some((p) => parts.some((c) => p.matchesParts(c)));
  }

  public matchesAny(arns: readonly string[]): boolean {
    return arns.some((arn) => this.matches(arn));
  }
}
