/**
 * Notifications for the host (MQTT.Message, Shadow.Delta) that arrive while it cannot take them: held
 * in a bounded queue and delivered in order once it can. It cannot while it does not answer on its
 * link (an open port is not enough: a UART opens whether or not a host is wired to it, and what is
 * written before the host listens is lost), nor while the UART's write backlog is over a bound (a
 * host that reads slower than the broker sends): the backlog is what the port has not yet
 * transmitted, so without the bound it would grow with the broker's rate. When the queue is full the
 * oldest notification is dropped, counted and logged.
 */
import { errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { DropReport } from "../util/drop-report.js";
import type { HostLink } from "./host-link.js";

/** Notifications wait while the UART has more than this many bytes still to transmit. */
export const HOST_BACKLOG_BYTES = 32 * 1024;

/** A bounded FIFO in front of the host link. */
export class HostInbox {
  private readonly queue: { method: string; params: unknown }[] = [];
  private readonly host: HostLink;
  private readonly max: number;
  private readonly backlogBytes: number;
  private readonly logger: Logger;
  private readonly drops: DropReport;

  /** Holds at most `max` notifications; sends while the UART's backlog is at most `backlogBytes`. */
  constructor(host: HostLink, max: number, logger: Logger, backlogBytes = HOST_BACKLOG_BYTES) {
    this.host = host;
    this.max = max;
    this.backlogBytes = backlogBytes;
    this.logger = logger;
    this.drops = new DropReport(
      logger,
      (n) => `host inbox full (${max}): dropped the ${n} oldest message(s)`,
    );
    host.on("state", (state) => {
      if (state === "ready") this.flush();
    });
    host.channel.link.on("drained", () => {
      this.flush();
    });
  }

  /** Messages waiting for the host. */
  get size(): number {
    return this.queue.length;
  }

  /** Notifications dropped because the queue was full, since start. */
  get dropped(): number {
    return this.drops.total;
  }

  /** Sends a notification to the host now, or queues it while the host cannot take it. */
  deliver(method: string, params: unknown): void {
    this.queue.push({ method, params });
    if (this.queue.length > this.max) {
      this.queue.shift();
      this.drops.add(1);
    }
    this.flush();
  }

  private flush(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (!this.trySend(next.method, next.params)) return;
      this.queue.shift();
    }
  }

  private trySend(method: string, params: unknown): boolean {
    if (this.host.state !== "ready") return false;
    if (this.host.channel.link.pendingBytes > this.backlogBytes) return false;
    try {
      this.host.notify(method, params);
      return true;
    } catch (e) {
      this.logger.debug(`${method} to the host held: ${errorMessage(e)}`);
      return false;
    }
  }
}
