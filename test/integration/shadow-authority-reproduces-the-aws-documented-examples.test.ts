/**
 * AWS's own shadow examples, replayed against the CCM as authority on Mosquitto by a plain MQTT
 * client: the light-bulb walkthrough (developerguide/using-device-shadows.md) and the data-flow page
 * (device-shadow-data-flow.md), both cited by reference peers.md §5. Every answer is compared field
 * by field with the document AWS prints; timestamps by shape (epoch seconds, now), versions offset
 * where AWS's shadow had a history ours has not.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBroker } from "../helpers/brokers.js";
import { startDaemon, until } from "../helpers/daemon.js";
import { awsShadowClient, timestampsAsT } from "../helpers/aws-shadow-client.js";

/** A CCM with no host, keeping the shadow under `prefix` on a fresh Mosquitto; an AWS client on it. */
async function authority(t: Parameters<typeof startBroker>[0], prefix: string) {
  const broker = await startBroker(t, "mosquitto");
  const ccm = await startDaemon(
    t,
    "",
    {},
    {
      mqtt: { enable: true, server: broker.server },
      shadow: { topic_prefix: prefix },
    },
  );
  await until(() => ccm.mqtt?.connected === true, "the CCM's MQTT up");
  return { ccm, aws: await awsShadowClient(t, broker.server, prefix) };
}

const T = "T";

test("AWS's light-bulb walkthrough: report, desired → delta, report back → documents, no delta, get", async (t) => {
  const since = Math.floor(Date.now() / 1000);
  const { aws } = await authority(t, "$aws/things/mySimulatedThing/shadow/name/simShadow1");
  const shape = (d: unknown): unknown => timestampsAsT(d, since);
  // AWS's shadow had two updates before the walkthrough's first document (version 3); ours is new.
  const v = (awsVersion: number): number => awsVersion - 2;

  await aws.send("get");
  assert.deepEqual(shape(await aws.next("get/rejected")), {
    code: 404,
    message: "No shadow exists with name: 'simShadow1'",
    timestamp: T,
  });

  const device1 = "426bfd96-e720-46d3-95cd-014e3ef12bb6";
  await aws.send("update", {
    state: { reported: { ID: "SmartLamp21", ColorRGB: [128, 128, 128] } },
    clientToken: device1,
  });
  const created = {
    state: { reported: { ID: "SmartLamp21", ColorRGB: [128, 128, 128] } },
    metadata: {
      reported: { ID: { timestamp: T }, ColorRGB: [{ timestamp: T }, { timestamp: T }, { timestamp: T }] },
    },
    version: v(3),
    timestamp: T,
    clientToken: device1,
  };
  assert.deepEqual(shape(await aws.next("update/accepted", device1)), created);
  await aws.send("get", { clientToken: device1 });
  assert.deepEqual(shape(await aws.next("get/accepted", device1)), created);

  const app = "21b21b21-bfd2-4279-8c65-e2f697ff4fab";
  await aws.send("update", { state: { desired: { ColorRGB: [255, 255, 0] } }, clientToken: app });
  const yellowMeta = [{ timestamp: T }, { timestamp: T }, { timestamp: T }];
  assert.deepEqual(shape(await aws.next("update/accepted", app)), {
    state: { desired: { ColorRGB: [255, 255, 0] } },
    metadata: { desired: { ColorRGB: yellowMeta } },
    version: v(4),
    timestamp: T,
    clientToken: app,
  });
  assert.deepEqual(shape(await aws.next("update/delta", app)), {
    version: v(4),
    timestamp: T,
    state: { ColorRGB: [255, 255, 0] },
    metadata: { ColorRGB: yellowMeta },
    clientToken: app,
  });

  const device2 = "a4dc2227-9213-4c6a-a6a5-053304f60258";
  await aws.send("update", { state: { reported: { ColorRGB: [255, 255, 0] } }, clientToken: device2 });
  assert.deepEqual(shape(await aws.next("update/accepted", device2)), {
    state: { reported: { ColorRGB: [255, 255, 0] } },
    metadata: { reported: { ColorRGB: yellowMeta } },
    version: v(5),
    timestamp: T,
    clientToken: device2,
  });
  const documents = await aws.next("update/documents", device2);
  const grey = [{ timestamp: T }, { timestamp: T }, { timestamp: T }];
  assert.deepEqual(shape(documents), {
    previous: {
      state: {
        desired: { ColorRGB: [255, 255, 0] },
        reported: { ID: "SmartLamp21", ColorRGB: [128, 128, 128] },
      },
      metadata: {
        desired: { ColorRGB: yellowMeta },
        reported: { ID: { timestamp: T }, ColorRGB: grey },
      },
      version: v(4),
    },
    current: {
      state: {
        desired: { ColorRGB: [255, 255, 0] },
        reported: { ID: "SmartLamp21", ColorRGB: [255, 255, 0] },
      },
      metadata: {
        desired: { ColorRGB: yellowMeta },
        reported: { ID: { timestamp: T }, ColorRGB: yellowMeta },
      },
      version: v(5),
    },
    timestamp: T,
    clientToken: device2,
  });
  type Meta = { metadata: { reported: { ID: { timestamp: number } } } };
  const { previous, current } = documents as { previous: Meta; current: Meta };
  assert.equal(
    current.metadata.reported.ID.timestamp,
    previous.metadata.reported.ID.timestamp,
    "ID untouched",
  );

  await aws.send("get");
  assert.deepEqual(shape(await aws.next("get/accepted")), {
    state: {
      desired: { ColorRGB: [255, 255, 0] },
      reported: { ID: "SmartLamp21", ColorRGB: [255, 255, 0] },
    },
    metadata: {
      desired: { ColorRGB: yellowMeta },
      reported: { ID: { timestamp: T }, ColorRGB: yellowMeta },
    },
    version: v(5),
    timestamp: T,
  });
  assert.deepEqual(aws.pending("update/delta"), [], "in sync: no delta after the device's report");
  assert.equal(aws.pending("update/documents").length, 2, "one documents message per other update");
});

test("AWS's data-flow page: delta, report, null delete of engine, the 409 version conflict, delete", async (t) => {
  const since = Math.floor(Date.now() / 1000);
  const { aws } = await authority(t, "$aws/things/thingName/shadow");
  const shape = (d: unknown): unknown => timestampsAsT(d, since);

  await aws.send("update", { state: { desired: { color: { r: 10 }, engine: "ON" } }, clientToken: "app" });
  assert.deepEqual(shape(await aws.next("update/accepted", "app")), {
    state: { desired: { color: { r: 10 }, engine: "ON" } },
    metadata: { desired: { color: { r: { timestamp: T } }, engine: { timestamp: T } } },
    version: 1,
    timestamp: T,
    clientToken: "app",
  });
  assert.deepEqual(shape(await aws.next("update/delta", "app")), {
    state: { color: { r: 10 }, engine: "ON" },
    metadata: { color: { r: { timestamp: T } }, engine: { timestamp: T } },
    version: 1,
    timestamp: T,
    clientToken: "app",
  });

  await aws.send("update", { state: { reported: { color: { r: 10 }, engine: "ON" } }, clientToken: "dev" });
  assert.equal((await aws.next("update/accepted", "dev")).version, 2);
  const desiredMeta = { color: { r: { timestamp: T } }, engine: { timestamp: T } };
  assert.deepEqual(shape(await aws.next("update/documents", "dev")), {
    previous: {
      state: { desired: { color: { r: 10 }, engine: "ON" } },
      metadata: { desired: desiredMeta },
      version: 1,
    },
    current: {
      state: { desired: { color: { r: 10 }, engine: "ON" }, reported: { color: { r: 10 }, engine: "ON" } },
      metadata: { desired: desiredMeta, reported: desiredMeta },
      version: 2,
    },
    timestamp: T,
    clientToken: "dev",
  });
  await aws.send("update", { state: { desired: { engine: null } }, clientToken: "del" });
  assert.deepEqual(shape(await aws.next("update/accepted", "del")), {
    state: { desired: { engine: null } },
    metadata: { desired: { engine: { timestamp: T } } },
    version: 3,
    timestamp: T,
    clientToken: "del",
  });
  await aws.send("get", { clientToken: "g" });
  assert.deepEqual(shape(await aws.next("get/accepted", "g")), {
    state: { desired: { color: { r: 10 } }, reported: { color: { r: 10 }, engine: "ON" } },
    metadata: {
      desired: { color: { r: { timestamp: T } } },
      reported: { color: { r: { timestamp: T } }, engine: { timestamp: T } },
    },
    version: 3,
    timestamp: T,
    clientToken: "g",
  });
  assert.deepEqual(aws.pending("update/delta"), [], "a reported key desired lacks makes no delta");

  // Optimistic locking: the page's colors at version 10 there, at 4 here.
  await aws.send("update", { state: { desired: { colors: ["RED", "GREEN", "BLUE"] } }, clientToken: "c" });
  const at = (await aws.next("update/accepted", "c")).version as number;
  const token = "426bfd96-e720-46d3-95cd-014e3ef12bb6";
  await aws.send("update", { state: { desired: { colors: ["BLUE"] } }, version: at - 1, clientToken: token });
  assert.deepEqual(shape(await aws.next("update/rejected", token)), {
    code: 409,
    message: "Version conflict",
    timestamp: T,
    clientToken: token,
  });
  await aws.send("update", { state: { desired: { colors: ["BLUE"] } }, version: at, clientToken: "ok" });
  assert.equal((await aws.next("update/accepted", "ok")).version, at + 1);
  await aws.send("get", { clientToken: "final" });
  const final = (await aws.next("get/accepted", "final")) as { state: { desired: unknown }; version: number };
  assert.deepEqual([final.state.desired, final.version], [{ color: { r: 10 }, colors: ["BLUE"] }, at + 1]);

  await aws.send("delete");
  assert.deepEqual(shape(await aws.next("delete/accepted")), { version: at + 1, timestamp: T });
});
