/**
 * The provisioning page in a real browser: Debian's Chromium, headless, driven by playwright-core,
 * against a real CCM whose nmcli is a recording fake (so Wifi.Scan has networks and a join is seen).
 * A missing /usr/bin/chromium fails these tests: it is a test dependency like socat (.ci/run).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { chromium, type Browser, type BrowserContextOptions, type Page } from "playwright-core";
import { CcmRunner } from "../../src/daemon/runner.js";
import type { CommandRunner } from "../../src/provisioning/network.js";
import { until } from "../helpers/daemon.js";
import { htdigestFile } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const XSS = "<img src=x onerror=alert(1)>";
/** `nmcli --terse --escape yes` scan output: SSID, BSSID, channel, signal %, security. */
const SCAN = [
  "Home-5G:AA\\:BB\\:CC\\:00\\:00\\:01:36:92:WPA2",
  `${XSS}:AA\\:BB\\:CC\\:00\\:00\\:02:6:70:WPA1 WPA2`,
  "Cafe:AA\\:BB\\:CC\\:00\\:00\\:03:11:40:",
  "Home-5G:AA\\:BB\\:CC\\:00\\:00\\:04:1:30:WPA2",
].join("\n");

interface Rig {
  runner: CcmRunner;
  url: string;
  dataDir: string;
  /** nmcli command lines the CCM ran. */
  nmcli: string[];
}

/** A CCM with the nmcli backend (a recording fake) on a pty, its HTTP server on a free port. */
async function startCcm(t: TestContext, set: string[] = []): Promise<Rig> {
  const pty = await ptyPair(t);
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-page-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const nmcli: string[] = [];
  const runNmcli: CommandRunner = (file, args) => {
    nmcli.push([file, ...args].join(" "));
    return Promise.resolve({ code: 0, stdout: args.includes("list") ? SCAN : "", stderr: "" });
  };
  const runner = new CcmRunner({
    dataDir,
    overrides: {
      device: { id: "ccm_e2e0a1" },
      host: { port: pty.a, probe_ms: 500, ping_ms: 0 },
      rpc: { http: { listen: "127.0.0.1:0" } },
    },
    set: ["wifi.backend=nmcli", ...set],
    devices: { commandRunner: runNmcli },
  });
  await runner.start();
  t.after(() => runner.stop());
  return { runner, url: runner.daemon.httpUrl ?? "", dataDir, nmcli };
}

interface Opened {
  page: Page;
  /** alert/confirm/prompt dialogs the page opened (each dismissed). */
  dialogs: string[];
  /** Uncaught exceptions and console errors. */
  errors: string[];
}

/** The page in a fresh browser context (phone-sized), closed after the test. */
async function openPage(
  t: TestContext,
  browser: Browser,
  url: string,
  options: BrowserContextOptions = {},
  setup: (page: Page) => Promise<void> = () => Promise.resolve(),
): Promise<Opened> {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, ...options });
  t.after(() => context.close());
  const page = await context.newPage();
  await setup(page);
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  const res = await page.goto(url);
  assert.equal(res?.status(), 200);
  return { page, dialogs, errors };
}

/**
 * Makes the browser answer every HTTP auth challenge with Cancel, as a user who dismisses the login
 * dialog (headless Chromium would otherwise wait for a dialog nobody sees).
 */
async function cancelLogins(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  cdp.on("Fetch.requestPaused", (e) => {
    void cdp.send("Fetch.continueRequest", { requestId: e.requestId }).catch(() => undefined);
  });
  cdp.on("Fetch.authRequired", (e) => {
    void cdp
      .send("Fetch.continueWithAuth", {
        requestId: e.requestId,
        authChallengeResponse: { response: "CancelAuth" },
      })
      .catch(() => undefined);
  });
  await cdp.send("Fetch.enable", { handleAuthRequests: true, patterns: [{ urlPattern: "*" }] });
}

/** Waits until the text of `selector` matches `want`; fails showing what it was. */
async function textOf(page: Page, selector: string, want: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = (await page.locator(selector).textContent()) ?? "";
    if (want.test(text)) return text;
    if (Date.now() > deadline)
      throw new Error(`${selector} says ${JSON.stringify(text)}, not ${String(want)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One JSON-RPC call on POST /rpc, as curl would make it. */
async function rpc(url: string, method: string, params?: unknown): Promise<unknown> {
  const res = await fetch(`${url}/rpc`, { method: "POST", body: JSON.stringify({ id: 1, method, params }) });
  const frame = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (frame.error !== undefined) throw new Error(frame.error.message);
  return frame.result;
}

describe("the provisioning page in headless Chromium", () => {
  let browser: Browser | undefined;

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: the provisioning page is tested in Debian's Chromium; install it with ` +
          "`sudo apt-get install -y chromium` (the README's test command and .ci/run do)",
      );
    }
    // launch() gives every run a fresh, temporary user-data-dir, removed on close.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });

  after(async () => {
    await browser?.close();
  });

  const theBrowser = (): Browser => {
    assert.ok(browser !== undefined, "Chromium did not start");
    return browser;
  };

  test("shows the device and its networks, and Save and join lands wifi.sta in the running and the saved config", async (t) => {
    const ccm = await startCcm(t);
    const { page, dialogs, errors } = await openPage(t, theBrowser(), `${ccm.url}/`);

    await textOf(page, "#device-id", /^ccm_e2e0a1$/);
    await textOf(page, "#state", /unprovisioned \(state 0 of 3\), not yet provisioned/);
    await textOf(page, "#ap", /^open: “CCM-e2e0a1” at 192\.168\.4\.1$/);
    await textOf(page, "#scan-status", /^3 networks found/);
    const names = await page.locator("#networks .ssid").allTextContents();
    assert.deepEqual(names, ["Home-5G", XSS, "Cafe"], "strongest first, one entry per name");
    assert.deepEqual(await page.locator("#networks .detail").allTextContents(), [
      "secured · excellent (-54 dBm)",
      "secured · good (-65 dBm)",
      "open · weak (-80 dBm)",
    ]);

    // An SSID is text, never markup: no <img> appears and no handler runs.
    assert.equal(await page.locator("#networks img").count(), 0);
    await page.getByRole("button", { name: XSS }).click();
    assert.equal(await page.getByLabel("Network name (SSID)").inputValue(), XSS);
    assert.equal(await page.locator("img").count(), 0);

    // Usable on a phone: nothing wider than the screen.
    const width = await page.evaluate<number>("document.documentElement.scrollWidth");
    assert.ok(width <= 360, `the page is ${width} px wide on a 360 px screen`);

    await page.getByRole("button", { name: /^Home-5G/ }).click();
    assert.equal(await page.getByLabel("Network name (SSID)").inputValue(), "Home-5G");
    assert.equal(await page.getByRole("button", { name: /^Home-5G/ }).getAttribute("aria-pressed"), "true");
    await page.getByLabel("Password", { exact: true }).fill("hunter2!x");
    await page.getByRole("button", { name: "Save and join" }).click();
    await textOf(page, "#result", /^Saved\. The CCM is joining “Home-5G”/);
    assert.equal(await page.getByLabel("Password", { exact: true }).inputValue(), "", "password cleared");

    const sta = await rpc(ccm.url, "Config.Get", { key: "wifi.sta" });
    assert.deepEqual(sta, { enable: true, ssid: "Home-5G", pass: "********" });
    const saved = JSON.parse(await readFile(join(ccm.dataDir, "config.json"), "utf8")) as {
      wifi: { sta: unknown };
    };
    assert.deepEqual(saved.wifi.sta, { enable: true, ssid: "Home-5G", pass: "hunter2!x" });

    // The save makes the CCM join (here: the fake nmcli) and the page follows.
    await until(
      () => ccm.nmcli.includes("nmcli --wait 45 device wifi connect Home-5G password hunter2!x name ccm-sta"),
      "the join",
    );
    await textOf(page, "#wifi", /^connected to “Home-5G”$/);
    await textOf(page, "#state", /^network up \(state 2 of 3\), provisioned$/);
    await textOf(page, "#ap", /^closed$/);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(errors, []);
  });

  test("a vendor-locked wifi key is refused and the page says so; nothing is saved", async (t) => {
    const ccm = await startCcm(t, ["config.lock=wifi.sta"]);
    const { page } = await openPage(t, theBrowser(), `${ccm.url}/provision`);
    await textOf(page, "#scan-status", /^3 networks found/);
    await page.getByLabel("Network name (SSID)").fill("Cafe");
    await page.getByRole("button", { name: "Save and join" }).click();
    await textOf(page, "#error", /^Not saved: config key wifi\.sta\.\w+ is locked by the vendor$/);
    assert.equal(await page.locator("#result").textContent(), "");
    assert.equal(((await rpc(ccm.url, "Config.Get", { key: "wifi.sta" })) as { ssid: string }).ssid, "");
    const file = join(ccm.dataDir, "config.json");
    const saved = existsSync(file) ? (JSON.parse(await readFile(file, "utf8")) as { wifi?: unknown }) : {};
    assert.equal(saved.wifi, undefined);
  });

  test("with RPC auth and the login dialog dismissed the page says authentication is required; logged in (HTTP Digest) it saves", async (t) => {
    const authFile = await htdigestFile(t, "RPC", { joe: "secret" });
    const ccm = await startCcm(t, [`rpc.auth_file=${authFile}`]);
    const anonymous = await openPage(t, theBrowser(), `${ccm.url}/`, {}, cancelLogins);
    await textOf(anonymous.page, "#status-error", /authentication required/);
    await textOf(anonymous.page, "#scan-status", /^Cannot scan: authentication required/);
    await anonymous.page.getByLabel("Network name (SSID)").fill("Cafe");
    await anonymous.page.getByRole("button", { name: "Save and join" }).click();
    await textOf(anonymous.page, "#error", /^Not saved: authentication required/);

    const joe = await openPage(t, theBrowser(), `${ccm.url}/`, {
      httpCredentials: { username: "joe", password: "secret" },
    });
    await textOf(joe.page, "#device-id", /^ccm_e2e0a1$/);
    await textOf(joe.page, "#scan-status", /^3 networks found/);
    await joe.page.getByRole("button", { name: /^Cafe/ }).click();
    await joe.page.getByRole("button", { name: "Save and join" }).click();
    await textOf(joe.page, "#result", /^Saved\. The CCM is joining “Cafe”/);
    const saved = JSON.parse(await readFile(join(ccm.dataDir, "config.json"), "utf8")) as {
      wifi: { sta: unknown };
    };
    assert.deepEqual(saved.wifi.sta, { enable: true, ssid: "Cafe", pass: "" });
  });

  test("the page is served at / and /provision with a CSP allowing only its own script and style; other paths are 404", async (t) => {
    const ccm = await startCcm(t);
    for (const path of ["/", "/provision"]) {
      const res = await fetch(`${ccm.url}${path}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
      assert.match(
        res.headers.get("content-security-policy") ?? "",
        /script-src 'sha256-[^']+'; style-src 'sha256-/,
      );
      assert.match(await res.text(), /<title>CCM Wi-Fi setup<\/title>/);
    }
    assert.equal((await fetch(`${ccm.url}/provision/x`)).status, 404);
    assert.equal((await fetch(`${ccm.url}/favicon.ico`)).status, 404);
    assert.equal((await fetch(`${ccm.url}/`, { method: "POST", body: "{}" })).status, 405);
  });
});
