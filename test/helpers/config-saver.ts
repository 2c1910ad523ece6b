/**
 * Child process for the power-loss test: opens the store in argv[2] and saves forever, each save a
 * new counter value in wifi.sta.ssid and a large padding key, printing "ready" after the first.
 */
import { ConfigStore } from "../../src/config/store.js";

const store = ConfigStore.open({ dataDir: process.argv[2]! });
for (let i = 1; ; i++) {
  store.set({ wifi: { sta: { ssid: `net-${i}`, pass: "x".repeat(1000 + (i % 500)) } } });
  store.save();
  if (i === 1) process.stdout.write("ready\n");
}
