// The README's TypeScript examples compile against the library as it is: every ```ts block is type-checked on its own,
// with `cdk-sentinel-tvm` mapped to src/. A block may use placeholders (`declare const ciRole: iam.IRole;`).
// A block that is not meant to compile is fenced ```ts nocompile.
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.join(__dirname, '..');
const README = path.join(ROOT, 'README.md');

interface Block {
  /** Document name, for messages. */
  readonly doc: string;
  /** 1-based line of the opening fence in the document. */
  readonly fenceLine: number;
  readonly code: string;
}

/** The ```ts / ```typescript blocks of a Markdown document, except those marked `nocompile`. */
function typeScriptBlocks(doc: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)(.*)$/.exec(lines[i]);
    if (!fence) continue;
    const [, indent, marker, lang, info] = fence;
    const closing = new RegExp(`^\\s*${marker[0]}{${marker.length},}\\s*$`);
    const end = lines.findIndex((line, j) => j > i && closing.test(line));
    const close = end === -1 ? lines.length : end;
    if (['ts', 'typescript'].includes(lang) && !/\bnocompile\b/.test(info)) {
      const code = lines.slice(i + 1, close).map((line) => line.startsWith(indent) ? line.slice(indent.length) : line).join('\n');
      blocks.push({ doc, fenceLine: i + 1, code });
    }
    i = close;
  }
  return blocks;
}

/** Type-checks the blocks in one program; returns each block's errors as `doc:line:col message`. */
function typeCheck(blocks: Block[]): Map<Block, string[]> {
  const config = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const compilerOptions: ts.CompilerOptions = {
    ...options,
    // The library's own strictness, minus what only concerns its build and lint.
    rootDir: undefined,
    outDir: undefined,
    declaration: false,
    noEmit: true,
    noUnusedLocals: false,
    noUnusedParameters: false,
    types: ['node'],
    // What `import ... from 'cdk-sentinel-tvm'` means in a user's app, here.
    paths: { 'cdk-sentinel-tvm': [path.join(ROOT, 'src', 'index.ts')] },
  };
  // Virtual files next to the README, so that aws-cdk-lib and constructs resolve from this project's node_modules.
  const files = new Map(blocks.map((block, i) => [
    path.join(ROOT, `__readme_block_${i}__.ts`),
    // `export {}`: every block is a module of its own, even one without imports.
    { block, text: `${block.code}\nexport {};\n` },
  ]));
  const host = ts.createCompilerHost(compilerOptions, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => files.has(path.resolve(file)) || fileExists.call(host, file);
  host.readFile = (file) => files.get(path.resolve(file))?.text ?? readFile.call(host, file);
  host.getSourceFile = (file, languageVersion, ...rest) => {
    const virtual = files.get(path.resolve(file));
    return virtual
      ? ts.createSourceFile(file, virtual.text, languageVersion, true, ts.ScriptKind.TS)
      : getSourceFile.call(host, file, languageVersion, ...rest);
  };
  const program = ts.createProgram([...files.keys()], compilerOptions, host);

  const errors = new Map<Block, string[]>(blocks.map((block) => [block, []]));
  for (const diagnostic of program.getOptionsDiagnostics()) {
    throw new Error(`README type-check setup: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`);
  }
  for (const [file, { block }] of files) {
    const source = program.getSourceFile(file)!;
    for (const diagnostic of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const { line, character } = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      // Line 0 of the block is the line after the opening fence.
      errors.get(block)!.push(`${block.doc}:${block.fenceLine + 1 + line}:${character + 1} ` +
        `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`);
    }
  }
  return errors;
}

// A document with one good and one broken block, so that the checker itself is tested (it must be able to fail).
const SELF_TEST = [
  '# doc',
  '```ts',
  "import { SentinelTvm } from 'cdk-sentinel-tvm';",
  "import { Stack } from 'aws-cdk-lib';",
  'declare const stack: Stack;',
  "new SentinelTvm(stack, 'Tvm', {});",
  '```',
  '```ts nocompile',
  'this is not TypeScript',
  '```',
  '```typescript',
  "import { SentinelTvm } from 'cdk-sentinel-tvm';",
  'declare const stack: any;',
  '',
  "new SentinelTvm(stack, 'Tvm', { adminPrincipals: 'arn:aws:iam::111122223333:role/Admin' });",
  '```',
].join('\n');

const readmeBlocks = typeScriptBlocks('README.md', fs.readFileSync(README, 'utf8'));
const selfTestBlocks = typeScriptBlocks('self-test.md', SELF_TEST);
let errors: Map<Block, string[]>;

beforeAll(() => {
  errors = typeCheck([...readmeBlocks, ...selfTestBlocks]);
});

test('README.md has TypeScript examples to check', () => {
  expect(readmeBlocks.length).toBeGreaterThan(0);
});

test.each(readmeBlocks.map((block) => [`README.md:${block.fenceLine}`, block] as const))('the example at %s compiles', (_name, block) => {
  expect(errors.get(block)).toEqual([]);
});

test('the checker reports a broken block at its line in the document, and skips nocompile blocks', () => {
  expect(selfTestBlocks.map((block) => block.fenceLine)).toEqual([2, 11]);
  expect(errors.get(selfTestBlocks[0])).toEqual([]);
  const broken = errors.get(selfTestBlocks[1])!;
  expect(broken).toHaveLength(1);
  expect(broken[0]).toMatch(/^self-test\.md:15:\d+ TS2322: Type 'string' is not assignable to type 'PrincipalPattern\[\]'/);
});
