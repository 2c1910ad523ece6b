/**
 * Serves the Wi-Fi provisioning page (page.html, next to this module in src/ and in dist/) at `/`
 * and `/provision` on the CCM's HTTP server. The page calls the CCM on POST /rpc like any client,
 * so RPC auth and the vendor lock apply to it as to curl.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorMessage } from "../errors.js";

/** Where the page is served. */
export const PAGE_PATHS: readonly string[] = ["/", "/provision"];

/** The page's bytes and the Content-Security-Policy that allows exactly its inline script and style. */
export interface ProvisioningPage {
  html: Buffer;
  csp: string;
}

let cached: ProvisioningPage | undefined;

/** Reads page.html once (the build copies it to dist/provisioning/). */
export function loadPage(): ProvisioningPage {
  if (cached === undefined) {
    const html = readFileSync(new URL("./page.html", import.meta.url), "utf8");
    cached = { html: Buffer.from(html, "utf8"), csp: contentSecurityPolicy(html) };
  }
  return cached;
}

/**
 * A CSP naming the SHA-256 of each inline `<script>` and `<style>`: nothing else runs or styles the
 * page, so even markup smuggled into it (a network named `<img onerror=…>`) could do nothing.
 */
export function contentSecurityPolicy(html: string): string {
  const hashes = (tag: string): string =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))]
      .map(
        (m) =>
          `'sha256-${createHash("sha256")
            .update(m[1] ?? "", "utf8")
            .digest("base64")}'`,
      )
      .join(" ");
  return [
    "default-src 'none'",
    `script-src ${hashes("script")}`,
    `style-src ${hashes("style")}`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The route: GET or HEAD answers the page; other methods get 405. */
export function servePage(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" });
    res.end("method not allowed\n");
    return;
  }
  let page: ProvisioningPage;
  try {
    page = loadPage();
  } catch (e) {
    res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(`provisioning page unavailable: ${errorMessage(e)}\n`);
    return;
  }
  res.writeHead(200, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": page.html.length,
    "Cache-Control": "no-store",
    "Content-Security-Policy": page.csp,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
  });
  res.end(req.method === "HEAD" ? undefined : page.html);
}
