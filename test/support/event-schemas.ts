// The JSON Schemas of the session events the package ships (schemas/events/), compiled with ajv 8 (draft-07) and
// ajv-formats, so that the tests validate what the runtime emits exactly as a consumer validating them would.
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { SessionEvents, SessionEventTypes } from '../../src/shared/contract';

export const SCHEMA_DIR = path.join(__dirname, '..', '..', 'schemas', 'events');
export const SCHEMA_ID_BASE = 'https://github.com/example/cdk-sentinel-tvm/schemas/events/';

/** `schemas/events/<kebab-case detail-type>.v<version>.json`, as the contract names them. */
export function schemaFileOf(detailType: string, version: number = SessionEvents.VERSION): string {
  return `${detailType.toLowerCase().replace(/ /g, '-')}.v${version}.json`;
}

/** Each schema file, parsed. */
export function readSchemas(): Map<string, any> {
  return new Map(fs.readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json'))
    .map((f) => [f, JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, f), 'utf8'))]));
}

/** A validator of delivered events: each event against the schema of its detail-type; the errors, empty when valid. */
export function eventValidator(): (event: any) => string[] {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  addFormats(ajv);
  const byType = new Map<string, ValidateFunction>();
  const schemas = readSchemas();
  for (const detailType of Object.values(SessionEventTypes)) {
    const schema = schemas.get(schemaFileOf(detailType));
    if (!schema) throw new Error(`no schema ${schemaFileOf(detailType)} for ${detailType}`);
    byType.set(detailType, ajv.compile(schema));
  }
  return (event) => {
    const validate = byType.get(event?.['detail-type']);
    if (!validate) return [`no schema for detail-type ${JSON.stringify(event?.['detail-type'])}`];
    return validate(event) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  };
}
