/**
 * Where a bundle arrives before anything checks it: `incoming.zip`, written chunk by chunk by
 * OTA.Write (idempotent by offset: mos sends a chunk again when its answer was lost) or downloaded
 * over HTTP or HTTPS. Only whole, verified bundles go further (host-ota.ts).
 */
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from "node:fs";
import { get as httpGet, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { rootCertificates } from "node:tls";
import { CcmError } from "../errors.js";

/** What a download may use: extra CAs to trust (PEM, besides the system's) and a time limit. */
export interface DownloadOptions {
  /** PEM certificates trusted for HTTPS in addition to Node's root store. */
  ca?: string;
  timeoutMs: number;
}

const MAX_REDIRECTS = 5;

/** GETs `url` (following redirects); resolves with a 2xx response, rejects with OTA_FAILED otherwise. */
export function download(url: string, o: DownloadOptions, signal?: AbortSignal): Promise<IncomingMessage> {
  const sig = signal ?? AbortSignal.timeout(o.timeoutMs);
  const once = (u: URL): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const options = { signal: sig, ...(o.ca === undefined ? {} : { ca: [...rootCertificates, o.ca] }) };
      const req = (u.protocol === "https:" ? httpsGet : httpGet)(u, options, resolve);
      req.on("error", (e) => {
        reject(new CcmError("OTA_FAILED", `${u.href}: ${e.message}`, { cause: e }));
      });
    });
  const follow = async (u: URL, hops: number): Promise<IncomingMessage> => {
    const res = await once(u);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location !== undefined) {
      res.resume();
      if (hops >= MAX_REDIRECTS)
        throw new CcmError("OTA_FAILED", `${url}: more than ${MAX_REDIRECTS} redirects`);
      return follow(new URL(res.headers.location, u), hops + 1);
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw new CcmError("OTA_FAILED", `HTTP ${status} from ${u.href}`);
    }
    return res;
  };
  return follow(checkUrl(url), 0);
}

/** Reads a small JSON document over HTTP(S) (the poll document). */
export async function downloadJson(url: string, o: DownloadOptions): Promise<unknown> {
  const res = await download(url, o);
  let text = "";
  res.setEncoding("utf8");
  for await (const s of res) {
    text += s as string;
    if (text.length > 65536) throw new CcmError("OTA_FAILED", `${url}: more than 64 KiB`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CcmError("OTA_FAILED", `${url}: not JSON`);
  }
}

/** `url` parsed; BAD_ARGUMENT unless it is http:// or https://. */
export function checkUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CcmError("BAD_ARGUMENT", `not a URL: ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new CcmError("BAD_ARGUMENT", `only http:// and https:// URLs: ${url}`);
  return parsed;
}

/** The file a bundle is received into, and how much of it has arrived. */
export class OtaInbox {
  /** Bytes announced (OTA.Begin) or, for a download, its Content-Length (0: unknown). */
  size = 0;
  written = 0;
  private fd: number | undefined;
  private readonly file: string;
  private readonly maxSize: number;

  constructor(file: string, maxSize: number) {
    this.file = file;
    this.maxSize = maxSize;
  }

  /** Starts receiving `size` bytes (OTA.Begin); 413 when over `ota.max_size`. */
  begin(size: number): void {
    if (size > this.maxSize)
      throw new CcmError(
        "OTA_FAILED",
        `a ${size}-byte bundle is larger than ota.max_size (${this.maxSize})`,
        {
          rpcCode: 413,
        },
      );
    this.close();
    this.fd = openSync(this.file, "w", 0o600);
    this.size = size;
    this.written = 0;
  }

  /** Whether OTA.Begin opened the file and OTA.End has not closed it. */
  get receiving(): boolean {
    return this.fd !== undefined;
  }

  /** OTA.Write: `data` at `offset`, which may repeat an earlier chunk but not leave a gap. */
  write(offset: number, data: Buffer): number {
    if (this.fd === undefined)
      throw new CcmError("OTA_FAILED", "no update in progress: call OTA.Begin first");
    if (offset > this.written)
      throw new CcmError("OTA_FAILED", `offset ${offset} is past the ${this.written} bytes written so far`, {
        rpcCode: 400,
      });
    if (offset + data.length > this.size)
      throw new CcmError(
        "OTA_FAILED",
        `${offset + data.length} bytes is more than the ${this.size} announced`,
        {
          rpcCode: 400,
        },
      );
    writeSync(this.fd, data, 0, data.length, offset);
    this.written = Math.max(this.written, offset + data.length);
    return this.written;
  }

  /** OTA.End: flushes and closes the file; OTA_FAILED when fewer bytes came than announced. */
  finish(): void {
    if (this.fd === undefined)
      throw new CcmError("OTA_FAILED", "no update in progress: call OTA.Begin first");
    const fd = this.fd;
    this.fd = undefined;
    fsyncSync(fd);
    closeSync(fd);
    if (this.written !== this.size)
      throw new CcmError("OTA_FAILED", `received ${this.written} of ${this.size} bytes`, { rpcCode: 400 });
  }

  /** Downloads `url` into the file, bounded by `ota.max_size`. */
  async download(url: string, o: DownloadOptions): Promise<void> {
    this.close();
    this.size = 0;
    this.written = 0;
    const res = await download(url, o);
    const length = Number(res.headers["content-length"] ?? "0");
    if (length > this.maxSize) {
      res.destroy();
      throw new CcmError("OTA_FAILED", `${url} is ${length} bytes, over ota.max_size (${this.maxSize})`);
    }
    this.size = length;
    const fd = openSync(this.file, "w", 0o600);
    try {
      for await (const chunk of res) {
        const b = chunk as Buffer;
        if (this.written + b.length > this.maxSize)
          throw new CcmError("OTA_FAILED", `${url} is over ota.max_size (${this.maxSize})`);
        writeSync(fd, b);
        this.written += b.length;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
      res.destroy();
    }
    if (length > 0 && this.written !== length)
      throw new CcmError("OTA_FAILED", `${url}: got ${this.written} of ${length} bytes`);
    this.size = this.written;
  }

  /** Closes the file if open. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** Closes and removes what arrived. */
  discard(): void {
    this.close();
    rmSync(this.file, { force: true });
  }
}
