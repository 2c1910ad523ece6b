/**
 * Notifications for the host (MQTT.Message, Shadow.Delta) that arrive while it cannot take them: held
 * in a bounded queue until the host answers on its link again (state `ready`) and delivered in order
 * then. An open port is not enough: a UART opens whether or not a host is wired to it, and what is
 * written before the host listens is lost.
 */
import { errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { HostLink } from "./host-link.js";

/** A bounded FIFO in front of the host link. */
export class HostInbox {
  /** Notifications dropped because the queue was full, since start. */
  dropped = 0;
  private readonly queue: { method: string; params: unknown }[] = [];
  private readonly host: HostLink;
  private readonly max: number;
  private readonly logger: Logger;

  constructor(host: HostLink, max: number, logger: Logger) {
    this.host = host;
    this.max = max;
    this.logger = logger;
    host.on("state", (state) => {
      if (state === "ready") this.flush();
    });
  }

  /** Messages waiting for the host. */
  get size(): number {
    return this.queue.length;
  }

  /** Sends a notification to the host now, or queues it while the host is not answering. */
  deliver(method: string, params: unknown): void {
    if (this.queue.length === 0 && this.trySend(method, params)) return;
    this.queue.push({ method, params });
    if (this.queue.length > this.max) {
      this.queue.shift();
      this.dropped++;
      this.logger.warn(`host inbox full (${this.max}): dropped the oldest message`);
    }
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
    try {
      this.host.notify(method, params);
      return true;
    } catch (e) {
      this.logger.debug(`${method} to the host held: ${errorMessage(e)}`);
      return false;
    }
  }
}
