#!/usr/bin/env node
// Writes assets/verifier/index.d.ts, the types of the session verifier bundle (assets/verifier/index.js), from
// lambda/verifier/index.ts. The bundle is one file, so its types must be one file too: the public types are all defined
// in index.ts, and this script fails if the declarations would import anything (a relying party has no lambda/ or src/).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const ts = require('typescript');

const root = path.join(__dirname, '..');
const entry = path.join(root, 'lambda', 'verifier', 'index.ts');
const target = path.join(root, 'assets', 'verifier', 'index.d.ts');

const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'verifier-types-'));
try {
  const program = ts.createProgram([entry], {
    declaration: true,
    emitDeclarationOnly: true,
    outDir,
    rootDir: root,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    types: ['node'],
    skipLibCheck: true,
  });
  const result = program.emit();
  const problems = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (problems.length > 0) {
    throw new Error(ts.formatDiagnostics(problems, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
  }
  const declarations = fs.readFileSync(path.join(outDir, 'lambda', 'verifier', 'index.d.ts'), 'utf8');
  const imports = declarations.split('\n').filter((line) => /^\s*(import|export .* from)\b|import\(/.test(line));
  if (imports.length > 0) {
    throw new Error(`the verifier's public types refer to other modules; define them in lambda/verifier/index.ts:\n${imports.join('\n')}`);
  }
  const header = '// The types of the Sentinel TVM session verifier (`require(\'cdk-sentinel-tvm/assets/verifier\')`).\n'
    + '// Written by scripts/verifier-types.js from lambda/verifier/index.ts: edit that file, not this one.\n';
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, header + declarations);
  process.stdout.write(`${path.relative(root, target)}: ${Buffer.byteLength(header + declarations)} bytes\n`);
} catch (err) {
  process.stderr.write(`verifier-types: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  fs.rmSync(outDir, { recursive: true, force: true });
}
