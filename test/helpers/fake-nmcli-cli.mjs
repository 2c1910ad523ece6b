// A fake of NetworkManager's `nmcli` for machines without NetworkManager (this one has no D-Bus
// system bus and no Wi-Fi), faithful to the commands the CCM runs: connection profiles that
// `connection add` and `device wifi connect … name N` create and `connection delete` removes, one
// active connection per device, nmcli's messages and exit status 10 for a connection that does not
// exist. Every network asked for is in range. Run as `node fake-nmcli-cli.mjs ARGS…`.
// State lives in FAKE_NMCLI_DIR: calls.jsonl (every invocation's argv), profiles.json (name →
// {ssid, mode, autoconnect, active}).
import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

const dir = process.env.FAKE_NMCLI_DIR ?? ".";
const argv = process.argv.slice(2);
appendFileSync(join(dir, "calls.jsonl"), `${JSON.stringify(argv)}\n`);

const file = join(dir, "profiles.json");
const profiles = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
const save = () => writeFileSync(file, JSON.stringify(profiles, null, 2));
let path = Object.keys(profiles).length;

function out(text) {
  process.stdout.write(`${text}\n`);
  process.exit(0);
}

function fail(code, text) {
  process.stderr.write(`${text}\n`);
  process.exit(code);
}

/** Makes `name` the device's one active connection. */
function activate(name) {
  for (const p of Object.values(profiles)) p.active = false;
  profiles[name].active = true;
  save();
}

// Global options come first: --wait N, --terse, --escape yes, --fields F.
const args = [...argv];
while (args[0]?.startsWith("-")) {
  const option = args.shift();
  if (["--wait", "--escape", "--fields", "-w", "-e", "-f"].includes(option)) args.shift();
}
const [object, command, ...rest] = args;

if (object === "connection" && command === "delete") {
  const name = rest[0];
  if (profiles[name] === undefined)
    fail(10, `Error: unknown connection '${name}'.\nError: cannot delete unknown connection(s): '${name}'.`);
  const { uuid } = profiles[name];
  Reflect.deleteProperty(profiles, name);
  save();
  out(`Connection '${name}' (${uuid}) successfully deleted.`);
}

if (object === "connection" && command === "add") {
  const settings = {};
  for (let i = 0; i + 1 < rest.length; i += 2) settings[rest[i]] = rest[i + 1];
  const name = settings["con-name"];
  const uuid = randomUUID();
  profiles[name] = {
    uuid,
    ssid: settings.ssid,
    mode: settings["802-11-wireless.mode"] ?? "infrastructure",
    autoconnect: settings.autoconnect !== "no",
    active: false,
  };
  save();
  out(`Connection '${name}' (${uuid}) successfully added.`);
}

if (object === "connection" && command === "up") {
  const name = rest[0];
  if (profiles[name] === undefined) fail(10, `Error: unknown connection '${name}'.`);
  activate(name);
  out(
    `Connection successfully activated (D-Bus active path: /org/freedesktop/NetworkManager/ActiveConnection/${++path})`,
  );
}

if (object === "connection" && command === "down") {
  const name = rest[0];
  if (profiles[name]?.active !== true)
    fail(10, `Error: '${name}' is not an active connection.\nError: no active connection provided.`);
  profiles[name].active = false;
  save();
  out(
    `Connection '${name}' successfully deactivated (D-Bus active path: /org/freedesktop/NetworkManager/ActiveConnection/${path})`,
  );
}

if (object === "device" && command === "wifi" && rest[0] === "connect") {
  const ssid = rest[1];
  const options = {};
  for (let i = 2; i + 1 < rest.length; i += 2) options[rest[i]] = rest[i + 1];
  const name = options.name ?? ssid;
  const uuid = randomUUID();
  profiles[name] = { uuid, ssid, mode: "infrastructure", autoconnect: true, active: false };
  activate(name);
  out(`Device '${options.ifname ?? "wlan0"}' successfully activated with '${uuid}'.`);
}

if (object === "device" && command === "wifi" && rest[0] === "list") out("");

fail(2, `Error: fake nmcli does not know '${argv.join(" ")}'.`);
