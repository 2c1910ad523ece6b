import assert from "node:assert/strict";
import { test } from "node:test";
import { CliError } from "../output.js";
import { typedAssignment } from "./config.js";

test("config-set types values by the schema, whatever the device holds now", () => {
  // A device tree that disagrees with the schema, or lacks the key, does not change the type.
  const device = { wifi: { sta: { pass: 5, ssid: 7 } }, mqtt: {} };
  assert.deepEqual(typedAssignment("wifi.sta.pass=1234", device), { wifi: { sta: { pass: "1234" } } });
  assert.deepEqual(typedAssignment("wifi.sta.ssid=0042", device), { wifi: { sta: { ssid: "0042" } } });
  assert.deepEqual(typedAssignment("mqtt.keepalive=30", device), { mqtt: { keepalive: 30 } });
  assert.deepEqual(typedAssignment("mqtt.clean_session=false", {}), { mqtt: { clean_session: false } });
  assert.deepEqual(typedAssignment("rpc.auth_algo=SHA-256", {}), { rpc: { auth_algo: "SHA-256" } });
  assert.deepEqual(typedAssignment("config.lock=mqtt, dash", {}), { config: { lock: ["mqtt", "dash"] } });
  assert.deepEqual(typedAssignment("mqtt.server=", {}), { mqtt: { server: "" } });
});

test("config-set types a key this CLI does not know by the device's current value", () => {
  const device = { newer: { level: 1, on: true, name: "x", tags: ["a"] } };
  assert.deepEqual(typedAssignment("newer.level=3", device), { newer: { level: 3 } });
  assert.deepEqual(typedAssignment("newer.on=false", device), { newer: { on: false } });
  assert.deepEqual(typedAssignment("newer.name=007", device), { newer: { name: "007" } });
  assert.deepEqual(typedAssignment("newer.tags=b,c", device), { newer: { tags: ["b", "c"] } });
});

test("config-set refuses, as a usage error, what cannot be typed", () => {
  const usage = (assignment: string, message: RegExp, tree: unknown = {}): void => {
    assert.throws(
      () => typedAssignment(assignment, tree),
      (e) => e instanceof CliError && e.exitCode === 2 && message.test(e.message),
    );
  };
  usage("mqtt.keepalive=soon", /mqtt\.keepalive: "soon" is not a number/);
  usage("mqtt.keepalive=", /mqtt\.keepalive: "" is not a number/);
  usage("mqtt.enable=yes", /mqtt\.enable: "yes" is not true or false/);
  usage("wifi.sta=x", /wifi\.sta is a section/);
  usage("nope.x=1", /unknown config key: nope\.x/);
  usage("newer.level=high", /newer\.level: "high" is not a number/, { newer: { level: 1 } });
  usage("newer=1", /newer is a section/, { newer: { level: 1 } });
  usage("=1", /expected key=value/);
});
