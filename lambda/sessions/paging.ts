import { createHmac, timingSafeEqual } from 'crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ApiError } from '../errors';

type Key = Record<string, AttributeValue>;

/**
 * `nextToken`: the DynamoDB key to continue from, bound to the query it belongs to (index, key, filters,
 * caller) and signed with the table's random token key. Opaque to callers; a changed token, or one used
 * for another query or by another caller, is refused.
 */
export class PageTokens {
  constructor(private readonly key: Buffer) {}

  public encode(lastKey: Key, queryId: string): string {
    const payload = Buffer.from(JSON.stringify({ q: queryId, k: lastKey })).toString('base64url');
    return `${payload}.${this.sign(payload)}`;
  }

  public decode(token: string, queryId: string): Key {
    const [payload, signature, extra] = token.split('.');
    const invalid = () => new ApiError('INVALID_REQUEST', 'The nextToken is invalid for this request.');
    if (!payload || !signature || extra !== undefined || token.length > 4096) throw invalid();
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw invalid();
    let parsed: { q?: unknown; k?: unknown };
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw invalid();
    }
    if (parsed.q !== queryId || !parsed.k || typeof parsed.k !== 'object') throw invalid();
    return parsed.k as Key;
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
