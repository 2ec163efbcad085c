// Prometheus metrics at GET /metrics: requests by route and status, latency histograms, open realtime
// connections, store commits, and errors of the store and bus. One registry per node (not the global one).
import type { FastifyInstance } from "fastify";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface MetricsSources {
  /** Open realtime sockets. */
  realtimeConnections?: () => number;
  /** Group-commit figures of the store, when it has them. */
  storeStats?: () => { commits: number; transactions: number } | undefined;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "natter_http_requests_total", help: "HTTP requests by route, method and status", labelNames: ["route", "method", "status"], registers: [this.registry] });
  readonly latency = new Histogram({
    name: "natter_http_request_duration_seconds", help: "HTTP request latency by route and method", labelNames: ["route", "method"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry],
  });
  readonly storeErrors = new Counter({ name: "natter_store_errors_total", help: "Store operations that failed (not rule violations)", registers: [this.registry] });
  readonly busErrors = new Counter({ name: "natter_bus_errors_total", help: "Bus publish/subscribe failures", registers: [this.registry] });

  constructor(sources: MetricsSources = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: "natter_" });
    new Gauge({
      name: "natter_realtime_connections", help: "Open realtime connections", registers: [this.registry],
      collect() { this.set(sources.realtimeConnections?.() ?? 0); },
    });
    new Gauge({
      name: "natter_store_commits", help: "Store commits (fsyncs) since start", registers: [this.registry],
      collect() { this.set(sources.storeStats?.()?.commits ?? 0); },
    });
    new Gauge({
      name: "natter_store_transactions", help: "Store transactions since start (transactions / commits = group-commit factor)", registers: [this.registry],
      collect() { this.set(sources.storeStats?.()?.transactions ?? 0); },
    });
  }
}

export function registerMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });
  app.get("/metrics", async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
