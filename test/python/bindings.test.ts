// The Python bindings, as far as they can be checked offline: jsii-pacmak --code-only generates them from .jsii
// (the full Python build pip-installs setuptools from PyPI, unreachable here), and their module must expose the API of
// the assembly with Python's keyword arguments and compile. test/python/app.py, a Python CDK app, is run only where
// aws-cdk-lib for Python is installed (it cannot be installed here).
import { spawnSync, type SpawnSyncOptions } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Env, StoreFailureModes } from '../../src/shared/contract';

const ROOT = path.join(__dirname, '..', '..');
const ASSEMBLY = path.join(ROOT, '.jsii');
const APP = path.join(__dirname, 'app.py');
const INSPECT = path.join(__dirname, 'inspect_bindings.py');

interface PySignature { readonly args: string[]; readonly kwonly: string[] }
interface PyClass { readonly bases: string[]; readonly members: string[]; readonly methods: Record<string, PySignature> }
interface Bindings { readonly all: string[]; readonly classes: Record<string, PyClass>; readonly unknown_keywords: string[] }

function run(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return String(result.stdout);
}

/** jsii's Python names: camelCase to snake_case. */
function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

const assembly = fs.existsSync(ASSEMBLY) ? JSON.parse(fs.readFileSync(ASSEMBLY, 'utf8')) : undefined;
const types: Record<string, any> = assembly?.types ?? {};
const localName = (fqn: string) => fqn.slice(fqn.lastIndexOf('.') + 1);

/** Property names of a struct of this assembly, its own and inherited ones. */
function structProperties(fqn: string): string[] {
  const type = types[fqn];
  return [...(type.properties ?? []).map((p: any) => p.name), ...(type.interfaces ?? []).filter((i: string) => types[i]).flatMap(structProperties)];
}

/** Whether a struct of this assembly extends one of another library (its properties are not in this assembly). */
function extendsForeign(fqn: string): boolean {
  return (types[fqn]?.interfaces ?? []).some((i: string) => !types[i] || extendsForeign(i));
}

/** A struct of this assembly as a method's last parameter: Python takes its properties as keyword arguments. */
function kwargsOf(parameters: any[] | undefined): string[] {
  const last = parameters?.[parameters.length - 1]?.type?.fqn;
  return last && types[last]?.datatype ? structProperties(last).map(snake).sort() : [];
}

let workDir: string;
let packageDir: string;
let bindings: Bindings;

beforeAll(() => {
  if (!assembly) throw new Error(`${ASSEMBLY} is missing: run \`npx projen compile\` first (the bindings are generated from it)`);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-tvm-python-'));
  run(path.join(ROOT, 'node_modules', '.bin', 'jsii-pacmak'), ['--code-only', '--target', 'python', '--outdir', workDir], { cwd: ROOT });
  packageDir = path.join(workDir, 'python', 'src', 'cdk_sentinel_tvm');
  bindings = JSON.parse(run('python3', [INSPECT, path.join(packageDir, '__init__.py'), APP]));
}, 120_000);

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test('the module cdk_sentinel_tvm exports the construct API', () => {
  expect(bindings.all).toEqual(expect.arrayContaining([
    'SentinelTvm', 'SentinelTvmProps', 'ProtectedRole', 'ProtectedRoleProps', 'ProfileOptions', 'StoreFailureMode',
    'SentinelTvmAttributes', 'SentinelTvmAlarms', 'ProfileProps',
  ]));
  expect(bindings.classes.SentinelTvm.bases).toEqual(['SentinelTvmBase']);
  expect(bindings.all).toEqual(expect.arrayContaining(['ISentinelTvm', 'PrincipalPattern', 'RevocationEnforcement', 'DenialCode']));
  expect(bindings.classes.ProtectedRole.bases).toEqual(['_aws_cdk_aws_iam_ceddda9d.Role']);
  expect(bindings.classes.StoreFailureMode.members).toEqual(['FAIL_OPEN', 'FAIL_CLOSED']);
  // SentinelTvm(scope, id, *, admin_principals=..., ...): the props struct becomes keyword arguments.
  const init = bindings.classes.SentinelTvm.methods.__init__;
  expect(init.args).toEqual(['self', 'scope', 'id']);
  expect(init.kwonly).toEqual(expect.arrayContaining(['admin_principals', 'store_failure_mode', 'session_lifetime']));
  expect([...bindings.classes.SentinelTvmProps.methods.__init__.kwonly].sort()).toEqual([...init.kwonly].sort());
  expect(bindings.classes.SentinelTvm.methods.add_profile).toEqual({
    args: ['self', 'name'], kwonly: expect.arrayContaining(['role', 'allowed_principals', 'max_credential_duration']),
  });
});

test('every type, member and keyword argument of the assembly is in the bindings', () => {
  const missing: string[] = [];
  const expectEqual = (what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      missing.push(`${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
    }
  };
  for (const [fqn, type] of Object.entries(types)) {
    const name = localName(fqn);
    const cls = bindings.classes[name];
    if (!cls || !bindings.all.includes(name)) {
      missing.push(`${name} is not exported`);
      continue;
    }
    if (type.kind === 'enum') {
      expectEqual(`${name} members`, cls.members, type.members.map((m: any) => m.name));
    } else if (type.datatype) {
      const actual = [...cls.methods.__init__.kwonly].sort();
      const expected = structProperties(fqn).map(snake).sort();
      // A struct extending another library's (aws-cdk-lib's OnEventOptions) has its properties too: ours must all be there.
      if (extendsForeign(fqn)) expectEqual(`${name}(**kwargs)`, expected.filter((k) => !actual.includes(k)), []);
      else expectEqual(`${name}(**kwargs)`, actual, expected);
    } else if (type.kind === 'class') {
      if (type.initializer) {
        expectEqual(`${name}() keyword arguments`, [...cls.methods.__init__.kwonly].sort(), kwargsOf(type.initializer.parameters));
      }
      for (const method of type.methods ?? []) {
        const pyName = `${name}.${snake(method.name)}`;
        const py = cls.methods[snake(method.name)];
        if (!py) {
          missing.push(`${pyName} is missing`);
        } else if (kwargsOf(method.parameters).length) {
          const last = method.parameters[method.parameters.length - 1].type.fqn;
          if (extendsForeign(last)) expectEqual(`${pyName}()`, kwargsOf(method.parameters).filter((k) => !py.kwonly.includes(k)), []);
          else expectEqual(`${pyName}()`, [...py.kwonly].sort(), kwargsOf(method.parameters));
        }
      }
    }
  }
  expect(missing).toEqual([]);
});

test('the generated module and test/python/app.py compile, and the app uses only keyword arguments the bindings have', () => {
  const files = [path.join(packageDir, '__init__.py'), path.join(packageDir, '_jsii', '__init__.py'), APP];
  // Byte code goes to the temporary folder, not next to the sources.
  const script = 'import py_compile, sys\nfor i, f in enumerate(sys.argv[2:]): py_compile.compile(f, cfile=f"{sys.argv[1]}/{i}.pyc", doraise=True)';
  run('python3', ['-c', script, workDir, ...files]);
  expect(bindings.unknown_keywords).toEqual([]);
});

// The app needs aws-cdk-lib, constructs and jsii for Python (and this package's bindings, put on PYTHONPATH here).
const cdkForPython = spawnSync('python3', ['-c', 'import aws_cdk'], { encoding: 'utf8' });
const pythonCdkMissing = cdkForPython.status === 0 ? undefined
  : (cdkForPython.error?.message ?? String(cdkForPython.stderr).trim().split('\n').pop());
if (pythonCdkMissing) {
  console.warn(`test/python/app.py is not run: \`python3 -c "import aws_cdk"\` fails (${pythonCdkMissing}). ` +
    'Install aws-cdk-lib, constructs and jsii for Python (pip install aws-cdk-lib) to run it.');
}

(pythonCdkMissing ? test.skip : test)('test/python/app.py synthesizes a SentinelTvm through the Python bindings', () => {
  const outdir = path.join(workDir, 'cdk.out');
  run('python3', [APP, outdir], { env: { ...process.env, PYTHONPATH: path.dirname(packageDir) } });
  const template = JSON.parse(fs.readFileSync(path.join(outdir, 'SentinelTvmPython.template.json'), 'utf8'));
  const resources = Object.values<any>(template.Resources);
  const ofType = (type: string) => resources.filter((r) => r.Type === type);
  expect(ofType('AWS::DynamoDB::Table')).toHaveLength(2); // sessions, control
  expect(ofType('AWS::ApiGatewayV2::Api')).toHaveLength(1);
  expect(ofType('AWS::Lambda::Function').map((f) => f.Properties.Environment?.Variables?.[Env.STORE_FAILURE_MODE]))
    .toContain(StoreFailureModes.FAIL_CLOSED);
  const trustSids = ofType('AWS::IAM::Role').flatMap((r) => r.Properties.AssumeRolePolicyDocument.Statement.map((s: any) => s.Sid));
  expect(trustSids).toEqual(expect.arrayContaining(['SentinelTvmAssumeRole', 'SentinelTvmTagSession', 'SentinelTvmSetSourceIdentity']));
});
