// The Java, .NET and Go bindings, as far as they can be checked offline (Python's: test/python/bindings.test.ts).
// jsii-pacmak --code-only generates their sources from .jsii; building the jar, the NuGet package and the Go module needs
// Maven Central, NuGet and the Go proxy (and aws-cdk-lib for each language), unreachable here. Each binding must declare
// every type and member of the assembly in its language's naming, carry the package name users install, and embed the
// npm package with the Lambda bundles (the jsii runtime runs the construct from it). The Java sources must parse (javac's
// parser: nothing compiles without aws-cdk-lib for Java), the Go sources too where gofmt is installed; C# is checked
// structurally only. Also here: the build's API compatibility check (the `compat` task: jsii-diff against compat/.baseline/).
import { spawnSync, type SpawnSyncOptions, type SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const ASSEMBLY = path.join(ROOT, '.jsii');
const BIN = path.join(ROOT, 'node_modules', '.bin');

interface Member { readonly name: string; readonly static?: boolean; readonly const?: boolean }
interface JsiiType {
  readonly fqn: string;
  readonly name: string;
  readonly kind: 'class' | 'interface' | 'enum';
  readonly datatype?: boolean;
  readonly abstract?: boolean;
  readonly base?: string;
  readonly interfaces?: string[];
  readonly initializer?: unknown;
  readonly methods?: Member[];
  readonly properties?: Member[];
  readonly members?: Member[];
}
type MemberKind = 'method' | 'property' | 'enum member';
/** Generated files of one language: path (relative to its folder) to text. */
type Sources = Map<string, string>;

interface Language {
  readonly name: string;
  /** Folder under jsii-pacmak's --outdir. */
  readonly dir: string;
  readonly extension: string;
  /** The construct SentinelTvm(scope, id, props), the class ProtectedRole and SentinelTvm.addProfile: the API's entry points. */
  readonly entryPoints: RegExp[];
  /** The package users install, and the aws-cdk-lib and constructs versions it needs (from package.json). */
  readonly identity: RegExp[];
  /** Patterns that must all match to declare the type. */
  declarations(type: JsiiType): RegExp[];
  member(type: JsiiType, member: Member, kind: MemberKind): RegExp;
  /** That a class or a (non-struct) interface extends or implements a type, named here by its last name. */
  supertype(type: JsiiType, superName: string): RegExp;
}

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const targets = pkg.jsii.targets;
const assembly = fs.existsSync(ASSEMBLY) ? JSON.parse(fs.readFileSync(ASSEMBLY, 'utf8')) : undefined;
const types: JsiiType[] = Object.values(assembly?.types ?? {});

const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
const re = (pattern: string, flags = 'm') => new RegExp(pattern, flags);

/** The lowest version a `^x.y.z` peer dependency allows, and the next major: the range Maven and NuGet declare. */
function floor(dependency: string): { readonly min: string; readonly nextMajor: string } {
  const min = String(pkg.peerDependencies[dependency]).replace(/^\^/, '');
  return { min, nextMajor: `${Number(min.split('.')[0]) + 1}.0.0` };
}
const cdk = floor('aws-cdk-lib');
const constructs = floor('constructs');
const range = (f: { min: string; nextMajor: string }) => esc(`[${f.min},${f.nextMajor})`);

const JAVA: Language = {
  name: 'Java',
  dir: 'java',
  extension: '.java',
  declarations: (type) => [re(`\\b${type.kind}\\s+${esc(type.name)}\\b`)],
  member: (_type, member, kind) => {
    if (kind === 'method' || kind === 'enum member') return re(`\\b${esc(member.name)}\\b${kind === 'method' ? '\\(' : ''}`);
    // Constants are static fields; other properties are getters (struct properties too).
    return member.const ? re(`\\b${esc(member.name)}\\b`) : re(`\\bget${esc(pascal(member.name))}\\(`);
  },
  // Supertypes are named by their full Java name, between the type's name and its body.
  supertype: (type, superName) => re(`\\b${type.kind}\\s+${esc(type.name)}\\b[^{]*[\\s.]${esc(superName)}\\b[^{]*\\{`),
  entryPoints: [
    /^public class SentinelTvm\b/m,
    /^ {4}public SentinelTvm\(final \S+ software\.constructs\.Construct scope, final \S+ java\.lang\.String id, /m,
    /^public class ProtectedRole\b/m,
    /^ {4}public \S.* addProfile\(/m,
  ],
  identity: [
    re(`<groupId>${esc(targets.java.maven.groupId)}</groupId>\\s*<artifactId>${esc(targets.java.maven.artifactId)}</artifactId>`),
    re(`^package ${esc(targets.java.package)};`),
    re(`<artifactId>aws-cdk-lib</artifactId>\\s*<version>${range(cdk)}</version>`),
    re(`<artifactId>constructs</artifactId>\\s*<version>${range(constructs)}</version>`),
  ],
};

const DOTNET: Language = {
  name: '.NET',
  dir: 'dotnet',
  extension: '.cs',
  // A struct is an interface IName (what methods take) and a class Name (what users build).
  declarations: (type) => type.datatype
    ? [re(`\\binterface\\s+I${esc(type.name)}\\b`), re(`\\bclass\\s+${esc(type.name)}\\b`)]
    : [re(`\\b${type.kind}\\s+${esc(type.name)}\\b`)],
  member: (_type, member, kind) => {
    if (kind === 'enum member') return re(`^\\s*${esc(member.name)},?$`);
    const name = `(${esc(pascal(member.name))}|${esc(member.name)})`;
    return kind === 'method' ? re(`\\b${name}\\s*\\(`) : re(`\\b${name}\\s*\\{`);
  },
  supertype: (type, superName) => re(`\\b${type.kind}\\s+${esc(type.name)}\\s*:[^{]*[\\s.]${esc(superName)}\\b[^{]*\\{`),
  entryPoints: [
    /^ {4}public class SentinelTvm\b/m,
    /^ {8}public SentinelTvm\(Constructs\.Construct scope, string id, /m,
    /^ {4}public class ProtectedRole\b/m,
    /^ {8}public virtual \S.* AddProfile\(/m,
  ],
  identity: [
    re(`<PackageId>${esc(targets.dotnet.packageId)}</PackageId>`),
    re(`^namespace ${esc(targets.dotnet.namespace)}$`),
    re(`<PackageReference Include="Amazon\\.CDK\\.Lib" Version="${range(cdk)}" />`),
    re(`<PackageReference Include="Constructs" Version="${range(constructs)}" />`),
  ],
};

const GO: Language = {
  name: 'Go',
  dir: 'go',
  extension: '.go',
  declarations: (type) => {
    const name = esc(type.name);
    if (type.kind === 'enum') return [re(`^type ${name} string$`)];
    if (type.datatype) return [re(`^type ${name} struct \\{$`)];
    const constructor = type.kind === 'class' && type.initializer && !type.abstract ? [re(`^func New${name}\\(`)] : [];
    return [re(`^type ${name} interface \\{$`), ...constructor];
  },
  member: (type, member, kind) => {
    const name = esc(pascal(member.name));
    if (kind === 'enum member') return re(`^\\t${esc(type.name)}_${esc(member.name)} ${esc(type.name)} = `);
    // Static members are package functions; struct properties are fields; the rest are interface methods.
    if (member.static) return re(`^func ${esc(type.name)}_${name}\\(`);
    if (type.datatype) return re(`^\\t${name} .*\`.*json:"${esc(member.name)}"`);
    return re(`^\\t${name}\\(${kind === 'property' ? '\\)' : ''}`);
  },
  // Go interfaces embed their supertypes, one a line, in the interface's body.
  supertype: (type, superName) => re(`^type ${esc(type.name)} interface \\{\\n(?:\\t.*\\n)*?\\t(\\w+\\.)?${esc(superName)}\\n`),
  entryPoints: [
    /^type SentinelTvm interface \{$/m,
    /^func NewSentinelTvm\(scope constructs\.Construct, id \*string, /m,
    /^type ProtectedRole interface \{$/m,
    /^\tAddProfile\(/m,
  ],
  identity: [
    re(`^module ${esc(`${targets.go.moduleName}/${targets.go.packageName}`)}$`),
    re(`^package ${esc(targets.go.packageName)}$`),
    re(`^\\tgithub\\.com/aws/aws-cdk-go/awscdk/v2 v${esc(cdk.min)}$`),
    re(`^\\tgithub\\.com/aws/constructs-go/constructs/v10 v${esc(constructs.min)}$`),
  ],
};

const LANGUAGES = [JAVA, DOTNET, GO];

function run(command: string, args: string[], options: SpawnSyncOptions = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw result.error;
  return result as SpawnSyncReturns<string>;
}

function mustRun(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = run(command, args, options);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

function readSources(language: Language): Sources {
  const dir = path.join(workDir, language.dir);
  return new Map(filesUnder(dir)
    .filter((file) => file.endsWith(language.extension) || ['pom.xml', 'go.mod'].includes(path.basename(file)) || file.endsWith('.csproj'))
    .map((file) => [file, fs.readFileSync(path.join(dir, file), 'utf8')]));
}

/** What of the assembly the sources lack: each type (its jsii name registered and its declaration) and its own members. */
function missingFromBinding(language: Language, sources: Sources): string[] {
  const missing: string[] = [];
  const all = [...sources.values()].join('\n');
  for (const type of types) {
    if (!all.includes(`"${type.fqn}"`)) missing.push(`${type.fqn} is not registered`);
    const declarations = language.declarations(type);
    const declaring = [...sources.values()].filter((text) => declarations.some((d) => d.test(text)));
    const undeclared = declarations.filter((d) => !declaring.some((text) => d.test(text)));
    if (undeclared.length) {
      missing.push(`${type.name} is not declared (${undeclared.join(', ')})`);
      continue;
    }
    // Structs flatten their parents' properties in some languages; classes and interfaces keep the hierarchy.
    const supertypes = type.datatype ? [] : [...(type.base ? [type.base] : []), ...(type.interfaces ?? [])];
    for (const superFqn of supertypes) {
      const superName = superFqn.slice(superFqn.lastIndexOf('.') + 1);
      if (!declaring.some((text) => language.supertype(type, superName).test(text))) {
        missing.push(`${type.name} does not extend or implement ${superFqn}`);
      }
    }
    const members: [Member, MemberKind][] = [
      ...(type.methods ?? []).map((m): [Member, MemberKind] => [m, 'method']),
      ...(type.properties ?? []).map((p): [Member, MemberKind] => [p, 'property']),
      ...(type.members ?? []).map((m): [Member, MemberKind] => [m, 'enum member']),
    ];
    for (const [member, kind] of members) {
      const pattern = language.member(type, member, kind);
      if (!declaring.some((text) => pattern.test(text))) missing.push(`${type.name}.${member.name} (${kind}) is missing (${pattern})`);
    }
  }
  return missing;
}

/** The file declaring a type, for the tests that break a binding on purpose. */
function fileDeclaring(language: Language, sources: Sources, name: string): string {
  const type = types.find((t) => t.name === name)!;
  const [file] = [...sources].find(([, text]) => language.declarations(type)[0].test(text))!;
  return file;
}

// Parses Java sources with javac's own parser and nothing else (no symbol resolution: aws-cdk-lib for Java is not here).
// --release 8: the generated pom.xml compiles for Java 8.
const JAVA_PARSER = `
import com.sun.source.util.JavacTask;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import javax.tools.*;

public class ParseOnly {
  public static void main(String[] args) throws Exception {
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    List<File> files = new ArrayList<>();
    for (String arg : args) files.add(new File(arg));
    int units = 0;
    try (StandardJavaFileManager fileManager = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
      JavacTask task = (JavacTask) javac.getTask(null, fileManager, diagnostics, List.of("--release", "8", "-proc:none"), null,
          fileManager.getJavaFileObjectsFromFiles(files));
      for (Object unit : task.parse()) units++;
    }
    int errors = 0;
    for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
      if (d.getKind() == Diagnostic.Kind.ERROR) { System.err.println(d); errors++; }
    }
    System.out.println(units + " files parsed, " + errors + " errors");
    System.exit(errors == 0 ? 0 : 1);
  }
}
`;

/** Why a tool cannot run here (its version command fails), or undefined. */
function unavailable(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? undefined : (result.error?.message ?? String(result.stderr).trim().split('\n').pop());
}
const javacMissing = unavailable('javac', ['-version']);
const gofmtMissing = unavailable('gofmt', ['-l', os.devNull]);
if (javacMissing) console.warn(`The Java sources are not parsed: \`javac -version\` fails (${javacMissing}). Install a JDK (17) to parse them.`);
if (gofmtMissing) console.warn(`The Go sources are not parsed: \`gofmt\` fails (${gofmtMissing}). Install Go to parse them.`);

let workDir: string;
const sources = new Map<Language, Sources>();

beforeAll(() => {
  if (!assembly) throw new Error(`${ASSEMBLY} is missing: run \`npx projen compile\` first (the bindings are generated from it)`);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-tvm-bindings-'));
  const languages = LANGUAGES.flatMap((language) => ['--target', language.dir]);
  mustRun(path.join(BIN, 'jsii-pacmak'), ['--code-only', ...languages, '--outdir', workDir], { cwd: ROOT });
  for (const language of LANGUAGES) sources.set(language, readSources(language));
}, 120_000);

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe.each(LANGUAGES)('$name bindings', (language) => {
  test('declare the construct SentinelTvm(scope, id, props), the class ProtectedRole and addProfile in the language\'s naming', () => {
    const all = [...sources.get(language)!.values()].join('\n');
    expect(language.entryPoints.filter((pattern) => !pattern.test(all))).toEqual([]);
  });

  test('declare every type and member of the assembly', () => {
    expect(types.length).toBeGreaterThan(0);
    expect(missingFromBinding(language, sources.get(language)!)).toEqual([]);
  });

  test('fails when a type or a member of the assembly is missing', () => {
    const broken = new Map(sources.get(language)!);
    broken.delete(fileDeclaring(language, broken, 'StoreFailureMode'));
    const file = fileDeclaring(language, broken, 'SentinelTvm');
    broken.set(file, broken.get(file)!.replace(/\b(add|Add)Profile\(/g, '$1Something('));
    const role = fileDeclaring(language, broken, 'ProtectedRole');
    broken.set(role, broken.get(role)!.replace(/\bRole\b/g, 'Policy'));
    expect(missingFromBinding(language, broken)).toEqual(expect.arrayContaining([
      'ProtectedRole does not extend or implement aws-cdk-lib.aws_iam.Role',
      expect.stringMatching(/^StoreFailureMode is not declared/),
      expect.stringMatching(/^SentinelTvm\.addProfile \(method\) is missing/),
    ]));
  });

  test('name the package users install and need the aws-cdk-lib and constructs of package.json', () => {
    const all = [...sources.get(language)!.values()].join('\n');
    expect(language.identity.filter((pattern) => !pattern.test(all))).toEqual([]);
  });

  test('embed the npm package with its assembly and every Lambda bundle', () => {
    const assets = path.join(ROOT, 'assets');
    if (!fs.existsSync(path.join(assets, 'lambda'))) throw new Error(`${assets} is missing: run \`npx projen bundle\` first`);
    const dir = path.join(workDir, language.dir);
    const tarballs = filesUnder(dir).filter((file) => file.endsWith('.tgz'));
    expect(tarballs).toHaveLength(1);
    const listed = mustRun('tar', ['tzf', path.join(dir, tarballs[0])]).split('\n');
    const expected = ['.jsii', 'lib/index.js', ...filesUnder(assets).map((file) => `assets/${file}`)].map((file) => `package/${file}`);
    expect(expected.filter((file) => !listed.includes(file))).toEqual([]);
  });
});

describe('Java sources', () => {
  let classes: string | undefined;
  const parse = (files: string[]) => {
    if (!classes) {
      classes = path.join(workDir, 'parser');
      fs.mkdirSync(classes);
      fs.writeFileSync(path.join(classes, 'ParseOnly.java'), JAVA_PARSER);
      mustRun('javac', ['-d', classes, path.join(classes, 'ParseOnly.java')]);
    }
    return run('java', ['-cp', classes, 'ParseOnly', ...files]);
  };

  (javacMissing ? test.skip : test)('parse as Java 8', () => {
    const files = [...sources.get(JAVA)!.keys()].filter((file) => file.endsWith('.java')).map((file) => path.join(workDir, JAVA.dir, file));
    const result = parse(files);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(`${files.length} files parsed, 0 errors`);
    expect(result.status).toBe(0);
  });

  (javacMissing ? test.skip : test)('fails when a source does not parse', () => {
    // A doc comment closed early by a `*/` in its text: the kind of error a generator makes.
    const broken = path.join(workDir, 'Broken.java');
    fs.writeFileSync(broken, '/** Matches arn:aws:iam::*/role/* */\npublic class Broken { void f() { int x = ; } }\n');
    const result = parse([broken]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Broken.java');
  });
});

(gofmtMissing ? test.skip : test)('the Go sources parse (gofmt)', () => {
  const result = run('gofmt', ['-e', '-l', path.join(workDir, GO.dir)]);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
});

describe('API compatibility with the last release (the compat task)', () => {
  // The command the build runs, pointed at a baseline made from the current assembly plus methods that are gone since.
  const compat = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8')).tasks.compat;

  function checkAgainstRelease(goneMethods: Record<string, unknown>[]): SpawnSyncReturns<string> {
    const baseline = path.join(workDir, 'compat', 'baseline');
    fs.mkdirSync(baseline, { recursive: true });
    // The baseline's aws-cdk-lib and constructs resolve from this repository, as compat/.baseline/'s do.
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(workDir, 'compat', 'node_modules'));
    const manifest = { name: pkg.name, version: pkg.version, jsii: pkg.jsii, peerDependencies: pkg.peerDependencies };
    fs.writeFileSync(path.join(baseline, 'package.json'), JSON.stringify(manifest));
    const released = structuredClone(assembly);
    for (const method of goneMethods) {
      released.types['cdk-sentinel-tvm.SentinelTvm'].methods.push({ locationInModule: { filename: 'src/sentinel-tvm.ts', line: 1 }, ...method });
    }
    fs.writeFileSync(path.join(baseline, '.jsii'), JSON.stringify(released));
    const command = String(compat.steps[0].exec).replace(' compat/.baseline ', ` ${baseline} `);
    try {
      return run('sh', ['-c', command], { cwd: ROOT, env: { ...process.env, PATH: `${BIN}${path.delimiter}${process.env.PATH}` } });
    } finally {
      fs.rmSync(path.join(workDir, 'compat'), { recursive: true, force: true });
    }
  }

  test('the build runs it after compiling, against compat/.baseline/', () => {
    const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8')).tasks;
    expect(tasks['post-compile'].steps).toContainEqual({ spawn: 'compat' });
    expect(compat.steps[0].exec).toMatch(/^jsii-diff compat\/\.baseline \. /);
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, 'compat', '.baseline', '.jsii'), 'utf8')).name).toBe(assembly.name);
  });

  test('API.md documents this package, not the baseline (jsii-docgen documents every .jsii it finds outside dot folders)', () => {
    const api = fs.readFileSync(path.join(ROOT, 'API.md'), 'utf8');
    for (const type of Object.values<{ name: string }>(assembly.types)) expect(api).toContain(`### ${type.name} `);
  });

  test('fails when a stable method of the last release is gone, and only warns of an experimental one', () => {
    const result = checkAgainstRelease([
      { name: 'removedSinceRelease', docs: { summary: 'Gone.' } },
      { name: 'triedAndDropped', docs: { summary: 'Gone.', stability: 'experimental' } },
    ]);
    expect(result.stderr).toContain('err  - METHOD cdk-sentinel-tvm.SentinelTvm.removedSinceRelease: has been removed');
    expect(result.stderr).toContain('warn - METHOD cdk-sentinel-tvm.SentinelTvm.triedAndDropped: has been removed');
    expect(result.stderr).not.toContain('err  - METHOD cdk-sentinel-tvm.SentinelTvm.triedAndDropped');
    expect(result.status).toBe(1);
  }, 90_000);
});
