/**
 * IAM-style wildcard matching on whole strings: `*` matches any run of characters (`/` and `:` included),
 * `?` exactly one; everything else literally and case-sensitively, as IAM compares ARNs.
 */
export function compileArnPattern(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/** A compiled list of patterns. */
export class PrincipalMatcher {
  private readonly patterns: RegExp[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.map(compileArnPattern);
  }

  public matches(arn: string): boolean {
    return this.patterns.some((p) => p.test(arn));
  }

  public matchesAny(arns: readonly string[]): boolean {
    return arns.some((arn) => this.matches(arn));
  }
}
