import { usageError } from './errors';

/** `https://<api-id>.execute-api.<region>.amazonaws.com[.cn]`: the region is in the host name. */
const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
export const DEFAULT_REGION = 'us-east-1';

/** The TVM's base URL, checked: https, or plain http only to this machine (local mode). */
export function parseTvmUrl(raw: string | undefined): URL {
  if (!raw) throw usageError('--url is required (or set SENTINEL_TVM_URL): the TVM API URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url "${raw}" is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw usageError(`--url "${raw}": expected https:// (plain http:// only to 127.0.0.1 or localhost, for local mode)`);
  }
  if (url.search || url.hash || url.username || url.password) throw usageError(`--url "${raw}": expected no query, fragment or user info`);
  return url;
}

/** The signing region: `--region`, else the region of an execute-api host name, else us-east-1. */
export function regionFor(url: URL, region?: string): string {
  if (region !== undefined) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw usageError(`--region "${region}" is not an AWS region name`);
    return region;
  }
  return EXECUTE_API_HOST.exec(url.hostname)?.[1] ?? DEFAULT_REGION;
}
