/**
 * Behaviours that bend the simulated host the way real boards misbehave. They stack: the newest
 * sees each outgoing line first (zwave-js MockController style) and may delay, split, drop or
 * decorate it before passing it on.
 */
import type { HostSimulator } from "./host-simulator.js";

/** One layer of the simulated host's behaviour. */
export interface HostBehavior {
  readonly name: string;
  /** Sees an incoming frame before the firmware; return true to swallow it. */
  onFrame?(text: string, sim: HostSimulator): boolean;
  /** Sees an outgoing line (frame + newline); calls `next` zero or more times to pass bytes on. */
  onSend?(line: string, next: (data: string | Buffer) => void, sim: HostSimulator): void;
  /** Starts timers (log spam, resets); returns how to stop them. */
  start?(sim: HostSimulator): () => void;
}

/** Answers late: every outgoing frame is held for `ms`. */
export function delay(ms: number): HostBehavior {
  return {
    name: `delay(${ms})`,
    onSend: (line, next) => {
      setTimeout(() => {
        next(line);
      }, ms);
    },
  };
}

/** Loses outgoing frames: those matching `match` (all by default), each with probability `rate`. */
export function drop(
  rate = 1,
  match: (line: string) => boolean = () => true,
  random = Math.random,
): HostBehavior {
  return {
    name: `drop(${rate})`,
    onSend: (line, next) => {
      if (match(line) && random() < rate) return;
      next(line);
    },
  };
}

/** Writes each frame in pieces of `chunk` bytes, `gapMs` apart: a slow UART or a small TX FIFO. */
export function split(chunk = 3, gapMs = 1): HostBehavior {
  return {
    name: `split(${chunk})`,
    onSend: (line, next) => {
      const bytes = Buffer.from(line);
      let at = 0;
      const step = (): void => {
        next(bytes.subarray(at, at + chunk));
        at += chunk;
        if (at < bytes.length) setTimeout(step, gapMs);
      };
      step();
    },
  };
}

/** Prints a log line every `everyMs`, as firmware chatters on the same UART. */
export function logLines(everyMs: number, text = (n: number) => `I (${n}) app: tick ${n}`): HostBehavior {
  return {
    name: `logLines(${everyMs})`,
    start: (sim) => {
      let n = 0;
      const t = setInterval(() => {
        sim.writeRaw(`${text(++n)}\r\n`);
      }, everyMs);
      return () => {
        clearInterval(t);
      };
    },
  };
}

/** Emits a line of random bytes (noise, invalid UTF-8, NULs) every `everyMs`. */
export function garbage(everyMs: number, length = 24, random = Math.random): HostBehavior {
  return {
    name: `garbage(${everyMs})`,
    start: (sim) => {
      const t = setInterval(() => {
        const bytes = Buffer.alloc(length);
        for (let i = 0; i < length; i++) {
          const b = Math.floor(random() * 256);
          bytes[i] = b === 0x0a ? 0 : b;
        }
        sim.writeRaw(Buffer.concat([bytes, Buffer.from("\n")]));
      }, everyMs);
      return () => {
        clearInterval(t);
      };
    },
  };
}

/** Resets the simulated MCU every `everyMs`: uptime back to zero, boot banner, state lost. */
export function resets(everyMs: number): HostBehavior {
  return {
    name: `resets(${everyMs})`,
    start: (sim) => {
      const t = setInterval(() => {
        sim.reset();
      }, everyMs);
      return () => {
        clearInterval(t);
      };
    },
  };
}

/** Ignores incoming frames whose text matches: a firmware that hangs in one handler. */
export function deaf(match: (text: string) => boolean = () => true): HostBehavior {
  return { name: "deaf", onFrame: (text) => match(text) };
}
