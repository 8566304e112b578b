// A checkpoint thread that says it is ready and then does what the test tells it on the
// 'scripted-checkpointer' broadcast channel: 'die' (an uncaught error), 'fail' or 'recover' (the messages
// the real thread posts when its passes start failing and succeed again). Nothing depends on timing.
const workerThreads = require('node:worker_threads');

const { parentPort } = workerThreads;
const channel = new workerThreads.BroadcastChannel('scripted-checkpointer');
channel.onmessage = ({ data }) => {
  if (data === 'die')
    setImmediate(() => {
      throw new Error('the checkpoint thread fell over');
    });
  if (data === 'fail') parentPort.postMessage({ kind: 'failed', error: 'database or disk is full' });
  if (data === 'recover') parentPort.postMessage({ kind: 'recovered' });
};
parentPort.on('message', (command) => {
  if (command.kind !== 'stop') return;
  channel.close();
  parentPort.close();
});
parentPort.postMessage({ kind: 'ready' });
