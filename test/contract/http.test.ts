import { channelContract } from "./channel-contract.js";

channelContract("HTTP", {
  network: true,
  config: () => Promise.resolve({}),
  port: (daemon) => `${daemon.httpUrl ?? ""}/rpc`,
});
