// A checkpoint thread that starts, says it is ready, then dies: for the server's fallback to inline checkpoints.
const { parentPort } = require('node:worker_threads');

parentPort.postMessage({ kind: 'ready' });
setTimeout(() => {
  throw new Error('the checkpoint thread fell over');
}, 20);
