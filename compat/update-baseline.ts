// `npx projen compat:baseline [npm:cdk-sentinel-tvm@<version>]` writes compat/.baseline/, the API that the `compat` task
// (jsii-diff, in every build) holds the assembly to. Without an argument it takes the assembly just compiled (.jsii);
// with one, a published release's, from npm. The accepted breaking changes are cleared: the new baseline contains them.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

const ROOT = path.join(__dirname, '..');
const BASELINE = path.join(__dirname, '.baseline');
const ACCEPTED = path.join(__dirname, 'accepted-breaking-changes.txt');
const ACCEPTED_HEADER = [
  '# Breaking changes of stable APIs made on purpose since compat/.baseline/, one key a line: the key the compat task',
  '# (jsii-diff) prints in brackets after each error. `npx projen compat:baseline` clears this list.',
  '',
].join('\n');

/** The assembly of a package folder; a compressed one is a redirect to a gzipped file beside it. */
function readAssembly(dir: string): Record<string, any> {
  const assembly = JSON.parse(fs.readFileSync(path.join(dir, '.jsii'), 'utf8'));
  if (assembly.schema !== 'jsii/file-redirect') return assembly;
  if (assembly.compression !== 'gzip') throw new Error(`${dir}/.jsii: unsupported compression ${assembly.compression}`);
  return JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, assembly.filename))).toString('utf8'));
}

/** Unpacks a published release into a temporary folder (npm pack fetches only the tarball, no dependencies). */
function unpackRelease(spec: string, tmp: string): string {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', spec, '--json', '--pack-destination', tmp], { cwd: tmp, encoding: 'utf8' }));
  execFileSync('tar', ['xzf', path.join(tmp, packed.filename), '-C', tmp]);
  return path.join(tmp, 'package');
}

function main(source: string | undefined): void {
  const own = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-tvm-compat-'));
  try {
    const release = source?.replace(/^npm:(\/\/)?/, '');
    if (release !== undefined && (release === source || !release.startsWith(`${own.name}@`))) {
      throw new Error(`expected no argument or npm:${own.name}@<version>, got ${source}`);
    }
    const dir = release ? unpackRelease(release, tmp) : ROOT;
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    // A package of the same name published by someone else is no baseline of this project.
    if (pkg.name !== own.name || pkg.repository?.url !== own.repository.url) {
      throw new Error(`${source} is ${pkg.name} from ${pkg.repository?.url}, not ${own.name} from ${own.repository.url}`);
    }
    const assembly = readAssembly(dir);
    // jsii-diff reads neither; both would churn with every README edit and CDK upgrade.
    delete assembly.readme;
    delete assembly.dependencyClosure;

    fs.rmSync(BASELINE, { recursive: true, force: true });
    fs.mkdirSync(BASELINE);
    fs.writeFileSync(path.join(BASELINE, '.jsii'), `${JSON.stringify(assembly, undefined, 2)}\n`);
    // jsii-diff loads a folder as a package: its dependencies (aws-cdk-lib, constructs) resolve from this repository.
    const manifest = {
      '//': 'Written by `npx projen compat:baseline`: the API the compat task checks against. Do not edit.',
      'name': pkg.name,
      'version': assembly.version,
      'jsii': pkg.jsii,
      'dependencies': pkg.dependencies,
      'peerDependencies': pkg.peerDependencies,
    };
    fs.writeFileSync(path.join(BASELINE, 'package.json'), `${JSON.stringify(manifest, undefined, 2)}\n`);
    fs.writeFileSync(ACCEPTED, ACCEPTED_HEADER);
    console.log(`compat/.baseline: ${assembly.name}@${assembly.version} (${release ? `from npm ${release}` : 'from .jsii'}), ` +
      `${Object.keys(assembly.types ?? {}).length} types`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main(process.argv[2]);
