// The admin HTTP endpoint: /metrics for Prometheus, /healthz and /readyz for orchestrators.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Pgtide } from '../server.js';
import type { AskOtherWorkers } from './across-workers.js';

export class AdminHttpServer {
  private readonly server: http.Server;

  /** `askOtherWorkers`: with `workers = N`, for the other workers' metrics, summed with these. */
  constructor(
    private readonly pgtide: Pgtide,
    private readonly registry: Registry,
    private readonly askOtherWorkers?: AskOtherWorkers,
  ) {
    this.server = http.createServer((req, res) => void this.answer(req, res));
    // Scrapers are trusted little; a silent or slow one must not hold a socket for long.
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
    this.server.keepAliveTimeout = 5_000;
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'only GET and HEAD\n');
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/metrics':
        try {
          const text = await this.instanceMetrics();
          res.setHeader('Content-Type', this.registry.contentType);
          return send(res, 200, text);
        } catch (err) {
          this.pgtide.log.error({ err: (err as Error).message }, 'metrics collection failed');
          return send(res, 500, 'metrics collection failed\n');
        }
      case '/healthz':
        return send(res, 200, 'ok\n');
      case '/readyz':
        if (!this.pgtide.isReady) return send(res, 503, 'starting: the first health checks run\n');
        return this.pgtide.context.router.writeBackend()
          ? send(res, 200, 'ready\n')
          : send(res, 503, 'no primary known\n');
      default:
        return send(res, 404, 'not found: try /metrics, /healthz or /readyz\n');
    }
  }

  /** Each metric summed over the workers, unless it says otherwise (its `aggregator`). */
  private async instanceMetrics(): Promise<string> {
    if (this.askOtherWorkers === undefined) return this.registry.metrics();
    const [own, others] = await Promise.all([
      this.registry.getMetricsAsJSON(),
      this.askOtherWorkers({ kind: 'metrics' }),
    ]);
    const metrics = others.answers.filter((answer): answer is typeof own => Array.isArray(answer));
    return AggregatorRegistry.aggregate([own, ...metrics]).metrics();
  }
}

function send(res: http.ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(body);
}
