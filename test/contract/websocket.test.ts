import { channelContract } from "./channel-contract.js";

channelContract("WebSocket", {
  network: true,
  config: () => Promise.resolve({}),
  port: (daemon) => `${daemon.httpUrl?.replace(/^http/, "ws") ?? ""}/rpc`,
});
