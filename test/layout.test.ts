// The layout rules of STYLE.md that the compiler does not enforce: the runtime imports only the shared contract,
// the construct never imports the runtime, and the contract imports nothing outside itself.
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1])
    .map((spec) => (spec.startsWith('.') ? path.normalize(path.join(path.dirname(file), spec)) : spec));
}

test('lambda/ imports from src/ only the shared contract', () => {
  const offending = sources('lambda').flatMap((f) => importsOf(f).filter((i) => i.startsWith('src/') && !i.startsWith('src/shared/'))
    .map((i) => `${f} -> ${i}`));
  expect(offending).toEqual([]);
});

test('src/ never imports the runtime (lambda/) or the command (cli/)', () => {
  const offending = sources('src').flatMap((f) => importsOf(f).filter((i) => i.startsWith('lambda/') || i.startsWith('cli/'))
    .map((i) => `${f} -> ${i}`));
  expect(offending).toEqual([]);
});

test('src/shared/ imports nothing but itself', () => {
  const offending = sources('src/shared').flatMap((f) => importsOf(f).filter((i) => !i.startsWith('src/shared/')).map((i) => `${f} -> ${i}`));
  expect(offending).toEqual([]);
});

test('the checks see imports (or they could not fail)', () => {
  expect(importsOf('lambda/handler.ts')).toContain('src/shared/contract');
  expect(importsOf('src/sentinel-tvm.ts')).toContain('src/shared/contract');
});
