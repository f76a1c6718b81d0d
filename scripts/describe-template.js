#!/usr/bin/env node
// Prints what a synthesized SentinelTvm stack defines: resources, routes, profiles, the trust policy.
'use strict';
const fs = require('fs');
const path = require('path');

const outdir = process.argv[2];
const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8'));
for (const [name, artifact] of Object.entries(manifest.artifacts)) {
  if (artifact.type !== 'aws:cloudformation:stack') continue;
  const file = path.join(outdir, artifact.properties.templateFile);
  const resources = JSON.parse(fs.readFileSync(file, 'utf8')).Resources;
  console.log(`\nStack ${name}: ${Object.keys(resources).length} resources (${path.relative(process.cwd(), file)})`);
  const byType = {};
  for (const r of Object.values(resources)) byType[r.Type] = (byType[r.Type] || 0) + 1;
  for (const [type, n] of Object.entries(byType).sort()) console.log(`  ${String(n).padStart(3)}  ${type}`);

  const routes = Object.values(resources).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route').map((r) => r.Properties);
  console.log('\nRoutes (authorization):');
  for (const r of routes) console.log(`  ${r.RouteKey.padEnd(28)} ${r.AuthorizationType}`);

  const config = Object.values(resources).find((r) => r.Type === 'Custom::AWS');
  if (config) {
    const parts = config.Properties.Create['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : `<${Object.values(p)[0]}>`));
    const call = JSON.parse(parts.join(''));
    console.log('\nProfiles (config item written at deploy time):');
    for (const p of call.parameters.Item.profiles.L) {
      const m = p.M;
      console.log(`  ${m.name.S}: role ${m.role_arn.S}, max ${m.max_duration_seconds.N} s, for ${m.allowed_principals.L.map((a) => a.S).join(', ')}`);
    }
    console.log(`  admins: ${call.parameters.Item.admin_principals.L.map((a) => a.S).join(', ') || '(none)'}`);
  }

  for (const [id, r] of Object.entries(resources)) {
    const doc = r.Type === 'AWS::IAM::Role' && r.Properties.AssumeRolePolicyDocument;
    if (!doc || !doc.Statement.some((s) => String(s.Sid).startsWith('SentinelTvm'))) continue;
    console.log(`\nTrust policy of protected role ${id}:`);
    for (const s of doc.Statement) console.log(`  ${s.Sid}: ${s.Action} if ${JSON.stringify(s.Condition)}`);
  }
}
