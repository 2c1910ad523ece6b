/**
 * The two ends an echo baseline of bench/pty-roundtrip.ts can stand on: node-serialport as it comes
 * (@serialport/stream on bindings-cpp, a thread-pool hop per read and write) and the CCM's own
 * SerialPortTransport (the build under test).
 */
import { autoDetect } from "@serialport/bindings-cpp";
import { SerialPortStream } from "@serialport/stream";
import { importCcm } from "./ccm-build.js";

type TransportModule = typeof import("../src/transports/serial-port.js");

function openRaw(path: string): Promise<SerialPortStream> {
  const port = new SerialPortStream({
    binding: autoDetect(),
    path,
    baudRate: 115200,
    hupcl: false,
    autoOpen: false,
  });
  return new Promise((resolve, reject) => {
    port.open((err) => {
      if (err) reject(err);
      else resolve(port);
    });
  });
}

function closeRaw(port: SerialPortStream): Promise<void> {
  return new Promise((resolve) => {
    if (!port.isOpen) {
      resolve();
      return;
    }
    port.close(() => {
      resolve();
    });
  });
}

/** One end of an echo setup: bytes in, bytes out, no waiting for the write. */
export interface EchoEnd {
  onData(listener: (chunk: Buffer) => void): void;
  write(data: Buffer): void;
  close(): Promise<void>;
}

/** node-serialport as it comes: @serialport/stream on bindings-cpp (thread-pool reads and writes). */
export async function stockEnd(path: string): Promise<EchoEnd> {
  const port = await openRaw(path);
  return {
    onData: (listener) => port.on("data", listener),
    write: (data) => port.write(data),
    close: () => closeRaw(port),
  };
}

/** The CCM's SerialPortTransport; its write's drain is not waited for. */
export async function transportEnd(path: string, root: string | undefined): Promise<EchoEnd> {
  const { SerialPortTransport } = await importCcm<TransportModule>("transports/serial-port", root);
  const port = new SerialPortTransport(path, { baudRate: 115200 });
  await port.open();
  return {
    onData: (listener) => port.on("data", listener),
    write: (data) => {
      port.write(data).catch(() => undefined);
    },
    close: () => port.close(),
  };
}
