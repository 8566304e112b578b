/**
 * Jest wiring for the end-to-end files: one live stack (real API, delivery worker, app tester) and one
 * receiver per file, closed after it.
 */
import type * as nockModule from 'nock';

import type { StartOptions } from '../support/api-server';
import { type Receiver, startReceiver } from '../support/receiver';
import { type LiveStack, startLiveStack } from '../support/zapier-live';

export interface LiveFile {
  readonly stack: LiveStack;
  readonly rx: Receiver;
}

/**
 * The unit tests mock IllumiChat with nock, which patches node's shared http module; should a file ever leave
 * it on, these tests must reach the real server rather than fail on a disallowed connection.
 */
export function useRealNetwork(): void {
  // Required here, not imported at the top: loading nock starts its interception, which only this caller wants.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nock = require('nock') as typeof nockModule;
  nock.cleanAll();
  nock.enableNetConnect();
  nock.restore();
}

export function useLiveStack(opts: StartOptions = {}): LiveFile {
  let stack: LiveStack | undefined;
  let rx: Receiver | undefined;
  beforeAll(async () => {
    useRealNetwork();
    stack = await startLiveStack(opts);
    rx = await startReceiver();
  });
  afterAll(async () => {
    await rx?.close();
    await stack?.close();
  });
  return {
    get stack() {
      if (!stack) throw new Error('the live stack starts in beforeAll');
      return stack;
    },
    get rx() {
      if (!rx) throw new Error('the receiver starts in beforeAll');
      return rx;
    },
  };
}
