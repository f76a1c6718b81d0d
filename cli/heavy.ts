// Everything of the command that loads the AWS SDK or local mode, in a file of its own beside the entry point
// (assets/cli/sentinel-tvm/heavy.js): a credential cache hit compiles only the small entry bundle.
export { access, clientFor, profiles, proof, send, sessions } from './commands';
export { awaitDecision } from './access-commands';
export { runLocal } from './local/run';
