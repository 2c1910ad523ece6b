import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { crc32Hex } from "../../src/framing/line-framer.js";
import { SerialPortTransport } from "../../src/transports/serial-port.js";
import { runCli } from "../helpers/cli.js";
import { ptyPair } from "../helpers/socat.js";

/**
 * The device end of the UART as Mongoose OS's rpc-uart serves it (mos-protocols.md §2.1): echoes
 * the `"""\x04"""` handshake, checks the CRC of `"""`-delimited frames and answers them in kind
 * (`\n"""{…}<crc>"""\n`), with a log line in between as a chatty firmware prints.
 */
async function mongooseOsDevice(t: TestContext, path: string) {
  const port = new SerialPortTransport(path, { baudRate: 115200 });
  await port.open();
  t.after(() => port.close());
  const seen = { raw: "", handshakes: 0, frames: [] as { json: string; crc: string }[] };
  let at = 0;
  const write = (text: string) => void port.write(Buffer.from(text, "latin1"));
  port.on("data", (d) => {
    seen.raw += d.toString("latin1");
    const delimited = /"""([\s\S]*?)"""/g;
    delimited.lastIndex = at;
    for (let m = delimited.exec(seen.raw); m !== null; m = delimited.exec(seen.raw)) {
      at = delimited.lastIndex;
      const body = m[1]!;
      if (body === "\x04") {
        seen.handshakes++;
        write('\n"""\x04"""\n');
        continue;
      }
      const f = /^(\{[\s\S]*\})([0-9a-f]{8})$/.exec(body);
      const [json, crc] = [f?.[1] ?? "", f?.[2] ?? ""];
      if (crc32Hex(json) !== crc) continue; // rpc-uart drops a frame with a bad CRC
      seen.frames.push({ json, crc });
      const req = JSON.parse(json) as { id: number; src: string; params: [number, number] };
      const answer = JSON.stringify({
        id: req.id,
        src: "esp32_ABCDEF",
        dst: req.src,
        result: req.params[0] + req.params[1],
      });
      write("I (4242) app: got a call\r\n");
      write(`\n"""${answer}${crc32Hex(answer)}"""\n`);
    }
  });
  return seen;
}

test("ccm call --mos-framing handshakes, sends a CRC'd frame in triple quotes and reads the device's answer in kind", async (t) => {
  const pty = await ptyPair(t);
  const device = await mongooseOsDevice(t, pty.b);
  const r = await runCli(["--port", pty.a, "call", "--mos-framing", "Sum", "[2,3]"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "5\n");
  assert.ok(device.handshakes >= 1);
  assert.ok(device.raw.startsWith('"""\x04"""\n\n'), `mos's handshake first: ${JSON.stringify(device.raw)}`);
  assert.equal(device.frames.length, 1, JSON.stringify(device.raw));
  const sent = JSON.parse(device.frames[0]!.json) as Record<string, unknown>;
  assert.deepEqual(
    { src: sent.src, method: sent.method, params: sent.params },
    { src: "ccm", method: "Sum", params: [2, 3] },
  );
  assert.match(
    device.raw,
    /\n"""\{[^\n]*\}[0-9a-f]{8}"""\n/,
    'the frame as mos writes it: \\n"""json+crc"""\\n',
  );
});
