import { EventPatterns, type EventTarget } from './entries';
import { Env } from '../../src/shared/contract';

/** An event bus name (partner buses have `/` in theirs), or its ARN. */
const BUS_NAME = /^[/.\-_A-Za-z0-9]{1,256}$/;
const BUS_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus\/[/.\-_A-Za-z0-9]{1,256}$/;

/**
 * Where session events go, from the environment the construct sets: `SENTINEL_TVM_NAME` (undefined when unset: no events)
 * and `SENTINEL_EVENT_BUS` (unset: the account's default bus). Throws an error naming the variable when one is malformed.
 */
export function readEventTarget(env: NodeJS.ProcessEnv): EventTarget | undefined {
  const eventBus = env[Env.EVENT_BUS] || undefined;
  if (eventBus !== undefined && !BUS_NAME.test(eventBus) && !BUS_ARN.test(eventBus)) {
    throw new Error(`environment variable ${Env.EVENT_BUS} is "${eventBus.slice(0, 300)}": expected an event bus name or ARN`);
  }
  const tvmName = env[Env.TVM_NAME] || undefined;
  if (tvmName === undefined) return undefined;
  if (!EventPatterns.TVM_NAME.test(tvmName)) {
    throw new Error(`environment variable ${Env.TVM_NAME} is "${tvmName.slice(0, 100)}": expected a TVM name (1 to 40 of A-Z a-z 0-9 _ -)`);
  }
  return { tvmName, ...(eventBus ? { eventBus } : {}) };
}

/** The events function's target: its TVM's name is required (every event carries it). */
export function readEventsFunctionSettings(env: NodeJS.ProcessEnv): EventTarget {
  const target = readEventTarget(env);
  if (!target) throw new Error(`environment variable ${Env.TVM_NAME} is not set: it names the TVM every session event is stamped with`);
  return target;
}
