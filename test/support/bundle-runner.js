// Runs a bundled Lambda handler in its own Node.js process, as Lambda does (jest's VM lacks dynamic import()).
// Events arrive over IPC; results go back the same way; the handler's logs stay on stdout.
'use strict';
const { handler } = require(process.argv[2]);

process.on('message', async ({ id, event }) => {
  try {
    process.send({ id, result: await handler(event, {}) });
  } catch (err) {
    process.send({ id, error: String(err && err.stack || err) });
  }
});
process.send({ ready: true });
