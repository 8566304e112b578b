/** Drives an endpoint with autocannon for a fixed time and reduces the result to the figures we publish. */
import autocannon from 'autocannon';

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

export interface LoadOptions {
  /** One URL, or several (instances of one API): autocannon gives connection i to url[i % n]. */
  url: string | string[];
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** A fresh body per request (e.g. a new email each time); called by autocannon for every request. */
  body?: () => string;
  connections?: number;
  seconds?: number;
}

export async function measure(opts: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    // autocannon 9 takes an array of URLs at run time (its README, `url`); its typings name only a string.
    url: opts.url as string,
    method: opts.method ?? 'GET',
    ...(opts.headers && { headers: opts.headers }),
    connections: opts.connections ?? 10,
    duration: opts.seconds ?? 5,
    ...(opts.body && { requests: [{ setupRequest: (req) => ({ ...req, body: opts.body!() }) }] }),
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}
