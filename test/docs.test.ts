// The repository's own docs stand for the contract: docs/http-api.md must document every route and every error code of
// src/shared/contract.ts, with the status the runtime answers, and no file may cite documents outside the repository.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiError } from '../lambda/errors';
import { errorResponse } from '../lambda/http';
import { ErrorCodes, IdentityProof, Routes, SESSION_HEADER, type ErrorCode } from '../src/shared/contract';

const ROOT = path.join(__dirname, '..');
const HTTP_API_DOC = path.join(ROOT, 'docs', 'http-api.md');
const DESIGN_DOC = path.join(ROOT, 'docs', 'design.md');
const httpApi = fs.readFileSync(HTTP_API_DOC, 'utf8');

/** Folders of dependencies, builds, test output and Git, skipped wherever they are; everything else is the repository's. */
const SKIPPED_DIRS = new Set(['node_modules', 'assets', 'lib', 'cdk.out', '.git', 'coverage', 'test-reports', 'dist', '.tmp']);
/** Generated jsii assemblies (the build's, and the compatibility baseline's): copies of the sources. */
const SKIPPED_FILES = new Set(['.jsii']);

/** The text of a `## heading` section, up to the next heading of that level. */
function section(markdown: string, heading: string): string | undefined {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${heading}`);
  if (start === -1) return undefined;
  const end = lines.findIndex((line, i) => i > start && /^## /.test(line));
  return lines.slice(start + 1, end === -1 ? lines.length : end).join('\n');
}

/** The body rows of the Markdown tables in a text, each as its trimmed cells (header and separator rows dropped). */
function tableRows(text: string): string[][] {
  const rows: string[][] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line.replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
    if (!inTable) {
      inTable = true; // the header row
      continue;
    }
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    rows.push(cells);
  }
  return rows;
}

/** What is wrong with the Routes section against the contract's routes (both ways). */
function routeProblems(markdown: string): string[] {
  const text = section(markdown, 'Routes');
  if (text === undefined) return ['no "## Routes" section'];
  const problems: string[] = [];
  const documented = new Set<string>();
  for (const [first] of tableRows(text)) {
    const m = /^`([A-Z]+) (\/\S*)`$/.exec(first);
    if (!m) problems.push(`a Routes row does not start with \`METHOD /path\`: ${first}`);
    else documented.add(`${m[1]} ${m[2]}`);
  }
  const contract = new Set(Routes.map((r) => `${r.method} ${r.path}`));
  for (const route of contract) if (!documented.has(route)) problems.push(`route ${route} is not documented`);
  for (const route of documented) if (!contract.has(route)) problems.push(`route ${route} is documented but not in the contract`);
  return problems;
}

/** The status the runtime answers for a code: through ApiError and the error response, as the handler builds it. */
function runtimeStatus(code: ErrorCode): number {
  const response = errorResponse(new ApiError(code, 'message'), 'request-id');
  expect(JSON.parse(response.body).Code).toBe(code);
  return response.statusCode;
}

/** What is wrong with the Error codes section against the contract's codes and the runtime's statuses (both ways). */
function errorCodeProblems(markdown: string): string[] {
  const text = section(markdown, 'Error codes');
  if (text === undefined) return ['no "## Error codes" section'];
  const problems: string[] = [];
  const documented = new Map<string, number>();
  for (const [code, status] of tableRows(text)) {
    const m = /^`([A-Z_]+)`$/.exec(code ?? '');
    if (!m || !/^\d{3}$/.test(status ?? '')) problems.push(`an Error codes row is not | \`CODE\` | status | …: ${code} | ${status}`);
    else if (documented.has(m[1])) problems.push(`${m[1]} is documented twice`);
    else documented.set(m[1], Number(status));
  }
  for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
    const status = runtimeStatus(code);
    if (!documented.has(code)) problems.push(`${code} (${status}) is not documented`);
    else if (documented.get(code) !== status) problems.push(`${code} is documented as ${documented.get(code)}; the runtime answers ${status}`);
  }
  for (const code of documented.keys()) if (!(code in ErrorCodes)) problems.push(`${code} is documented but not in the contract`);
  return problems;
}

/** Reads a file or folder, or undefined when it is gone: other test files may remove what they created meanwhile. */
function unlessGone<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Every file of the repository under a root, relative to it. */
function repositoryFiles(root: string, rel = ''): string[] {
  const entries = unlessGone(() => fs.readdirSync(path.join(root, rel), { withFileTypes: true })) ?? [];
  return entries.flatMap((e) => {
    const child = path.join(rel, e.name);
    if (e.isDirectory()) return SKIPPED_DIRS.has(e.name) ? [] : repositoryFiles(root, child);
    return e.isFile() && !SKIPPED_FILES.has(e.name) ? [child] : [];
  });
}

// Written without the literal strings, so that this file does not cite them itself.
const SPEC_CITATION = /SPEC\s*\u00a7|\bSPEC\.md\b/g;
const PARENT_SHARED = /(?:\.\.\/)+shared\b/g;

/**
 * Mentions of documents users do not have: a citation of a SPEC section, or a relative path up to a `shared` folder that
 * leads out of the repository (an import of `src/shared/` from `src/private/` stays inside it, and is fine).
 */
function foreignReferences(root: string, files: readonly string[]): string[] {
  const found: string[] = [];
  for (const rel of files) {
    const buffer = unlessGone(() => fs.readFileSync(path.join(root, rel)));
    if (buffer === undefined || buffer.includes(0)) continue; // gone, or binary
    const text = buffer.toString('utf8');
    const lineOf = (index: number) => text.slice(0, index).split('\n').length;
    for (const m of text.matchAll(SPEC_CITATION)) found.push(`${rel}:${lineOf(m.index)}: ${m[0]}`);
    for (const m of text.matchAll(PARENT_SHARED)) {
      const target = path.resolve(root, path.dirname(rel), m[0]);
      const inside = !path.relative(root, target).startsWith('..') && fs.existsSync(target);
      if (!inside) found.push(`${rel}:${lineOf(m.index)}: ${m[0]}`);
    }
  }
  return found;
}

describe('docs/http-api.md', () => {
  test('documents every route of the contract, and no other', () => {
    expect(routeProblems(httpApi)).toEqual([]);
  });

  test('documents every error code of the contract with the HTTP status the runtime answers, and no other', () => {
    expect(errorCodeProblems(httpApi)).toEqual([]);
  });

  test('names the headers and the identity proof request of the contract', () => {
    const lower = httpApi.toLowerCase();
    for (const name of [IdentityProof.HEADER, IdentityProof.AUDIENCE_HEADER, SESSION_HEADER]) expect(lower).toContain(name);
    expect(httpApi).toContain(IdentityProof.BODY);
    expect(httpApi).toContain(IdentityProof.CONTENT_TYPE);
  });

  test('fails when http-api.md misses a route, or documents one the contract does not have', () => {
    const without = httpApi.replace(/^\| `DELETE \/sessions\/\{id\}` \|.*\n/m, '');
    expect(without).not.toBe(httpApi);
    expect(routeProblems(without)).toEqual(['route DELETE /sessions/{id} is not documented']);
    const extra = httpApi.replace(/^(\| `GET \/profiles` \|.*\n)/m, '$1| `PUT /profiles` | x | x | x |\n');
    expect(routeProblems(extra)).toEqual(['route PUT /profiles is documented but not in the contract']);
  });

  test('fails when http-api.md misses an error code, or gives it another status than the runtime\'s', () => {
    const without = httpApi.replace(/^\| `SESSION_NOT_ACTIVE` \|.*\n/m, '');
    expect(without).not.toBe(httpApi);
    expect(errorCodeProblems(without)).toEqual(['SESSION_NOT_ACTIVE (409) is not documented']);
    const wrong = httpApi.replace(/^\| `RATE_LIMITED` \| 429 \|/m, '| `RATE_LIMITED` | 503 |');
    expect(wrong).not.toBe(httpApi);
    expect(errorCodeProblems(wrong)).toEqual(['RATE_LIMITED is documented as 503; the runtime answers 429']);
  });
});

/** Relative link targets of a Markdown file that are not files of the repository (anchors are not checked). */
function brokenLinks(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1])
    .filter((target) => !/^[a-z]+:/.test(target) && !target.startsWith('#'))
    .filter((target) => !fs.existsSync(path.resolve(path.dirname(file), target.split('#')[0])));
}

describe('docs/', () => {
  test('design.md links the HTTP contract', () => {
    expect(fs.readFileSync(DESIGN_DOC, 'utf8')).toContain('(http-api.md)');
  });

  test('relative links of the docs lead to files of the repository', () => {
    expect(brokenLinks(HTTP_API_DOC)).toEqual([]);
    expect(brokenLinks(DESIGN_DOC)).toEqual([]);
    expect(brokenLinks(path.join(ROOT, 'README.md'))).toEqual([]);
  });

  test('fails when a relative link leads nowhere', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docs-links-'));
    try {
      const file = path.join(dir, 'a.md');
      fs.writeFileSync(file, '[self](a.md#top) [web](https://example.com/x) [here](#top) [gone](missing.md#part)\n');
      expect(brokenLinks(file)).toEqual(['missing.md#part']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the repository stands on its own', () => {
  const files = repositoryFiles(ROOT);

  test('the scan reads the repository\'s files, generated folders left out', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', '.projenrc.ts', path.join('docs', 'http-api.md'), path.join('lambda', 'handler.ts'),
      path.join('src', 'shared', 'contract.ts'), path.join('examples', 'app.ts'), path.join('test', 'docs.test.ts')]));
    // Folders only: the integ snapshot has a file named cdk.out.
    expect(files.filter((f) => f.split(path.sep).slice(0, -1).some((part) => SKIPPED_DIRS.has(part)))).toEqual([]);
  });

  test('no file cites a SPEC section or a document outside the repository', () => {
    expect(foreignReferences(ROOT, files)).toEqual([]);
  });

  test('fails when a file cites a SPEC section or a shared folder outside the repository, not for src/shared', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docs-test-'));
    // A repository one level down, so that its parent has no `shared` folder.
    const repo = path.join(dir, 'repo');
    const parentShared = ['..', 'shared'].join('/');
    try {
      fs.mkdirSync(path.join(repo, 'src', 'private'), { recursive: true });
      fs.mkdirSync(path.join(repo, 'src', 'shared'), { recursive: true });
      fs.writeFileSync(path.join(repo, 'README.md'), `Intro.\nSee ${['SPEC', '\u00a76'].join(' ')} and ${parentShared}/STYLE.md.\n`);
      fs.writeFileSync(path.join(repo, 'src', 'private', 'a.ts'), `import { x } from '${parentShared}/contract';\n`);
      const found = foreignReferences(repo, ['README.md', path.join('src', 'private', 'a.ts')]);
      expect(found).toEqual(['README.md:2: SPEC \u00a7', `README.md:2: ${parentShared}`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
