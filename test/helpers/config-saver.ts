/**
 * Child process for the power-loss test: opens the store in argv[2] and saves forever, carrying on
 * from the counter it finds there. Save N puts `net-N` in wifi.sta.ssid and a passphrase of
 * 1000 + N % 500 characters (a file mixing two saves would not match), then prints `saved N`.
 */
import { ConfigStore } from "../../src/config/store.js";

const store = ConfigStore.open({ dataDir: process.argv[2]! });
const found = /^net-(\d+)$/.exec(store.config.wifi.sta.ssid);
for (let n = found === null ? 1 : Number(found[1]) + 1; ; n++) {
  store.set({ wifi: { sta: { ssid: `net-${n}`, pass: "x".repeat(1000 + (n % 500)) } } });
  store.save();
  process.stdout.write(`saved ${n}\n`);
}
