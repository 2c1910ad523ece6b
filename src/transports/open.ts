/**
 * Picks the transport for a port argument, so every command accepts `/dev/ttyUSB0`, `COM3` or `tcp://host:port`.
 */
import { CcmError } from "../errors.js";
import { SerialPortTransport } from "./serial-port.js";
import { TcpTransport } from "./tcp.js";
import type { ByteTransport, SerialSettings } from "./transport.js";

/** Splits `tcp://host:port` (IPv6 as `tcp://[::1]:port`) into host and port; throws BAD_ARGUMENT on anything else. */
export function parseTcpPath(path: string): { host: string; port: number } {
  const bad = (why: string): CcmError =>
    new CcmError(
      "BAD_ARGUMENT",
      `bad TCP port address ${JSON.stringify(path)}: ${why} (expected tcp://host:port)`,
    );
  let url: URL;
  try {
    url = new URL(path);
  } catch {
    throw bad("not a URL");
  }
  if (url.protocol !== "tcp:") throw bad("scheme is not tcp");
  if (url.username !== "" || url.password !== "") throw bad("credentials are not supported");
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
    throw bad("unexpected path or query");
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw bad("host is missing");
  if (url.port === "") throw bad("port is missing");
  const port = Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad("port is out of range");
  return { host, port };
}

/** Builds (without opening) the transport for `path`: TcpTransport for `tcp://host:port`, else a serial port. */
export function createTransport(path: string, settings: SerialSettings): ByteTransport {
  if (/^tcp:/i.test(path)) {
    const { host, port } = parseTcpPath(path);
    return new TcpTransport(host, port);
  }
  return new SerialPortTransport(path, settings);
}
