import { startBroker } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { channelContract } from "./channel-contract.js";

channelContract("MQTT (mosquitto broker)", {
  network: true,
  async config(t) {
    const broker = await startBroker(t, "mosquitto");
    return { mqtt: { enable: true, server: broker.server } };
  },
  port: (daemon) => `mqtt://${daemon.config.mqtt.server}/${daemon.deviceId}`,
  ready: (daemon) => until(() => daemon.mqtt?.connected === true, "the CCM's MQTT subscriptions"),
});
