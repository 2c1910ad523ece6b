import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LineFramer, crc32Hex, encodeLine, type DropReason, type FrameInfo } from "./line-framer.js";

interface Seen {
  frames: { text: string; info: FrameInfo }[];
  junk: string[];
  dropped: DropReason[];
  handshakes: number;
}

function framer(maxLineBytes?: number): { f: LineFramer; seen: Seen } {
  const seen: Seen = { frames: [], junk: [], dropped: [], handshakes: 0 };
  const f = new LineFramer(
    {
      frame: (text, info) => seen.frames.push({ text, info }),
      junk: (text) => seen.junk.push(text),
      dropped: (reason) => seen.dropped.push(reason),
      handshake: () => seen.handshakes++,
    },
    maxLineBytes === undefined ? {} : { maxLineBytes },
  );
  return { f, seen };
}

const stream = Buffer.from(
  'boot: hello\r\n{"id":1,"method":"Sum","params":[2,3]}\r\n{"method":"Shadow.Report","params":{"on":true}}\n[{"id":2,"method":"A"}]\n',
);

describe("line framer", () => {
  test("a host stream split at every byte offset decodes the same as whole", () => {
    const whole = framer();
    whole.f.push(stream);
    assert.equal(whole.seen.frames.length, 3);
    assert.deepEqual(whole.seen.junk, ["boot: hello"]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const { f, seen } = framer();
      f.push(stream.subarray(0, cut));
      f.push(stream.subarray(cut));
      assert.deepEqual(seen, whole.seen, `split at ${cut}`);
    }
  });

  test("a host stream fed one byte at a time decodes the same as whole", () => {
    const whole = framer();
    whole.f.push(stream);
    const { f, seen } = framer();
    for (const b of stream) f.push(Buffer.from([b]));
    assert.deepEqual(seen, whole.seen);
  });

  test("CR is stripped and empty lines are ignored", () => {
    const { f, seen } = framer();
    f.push(Buffer.from('\r\n\n{"id":1}\r\r\n'));
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      ['{"id":1}'],
    );
    assert.deepEqual(seen.junk, []);
  });

  test("lines that are not frames are log output, including bracketed log prefixes", () => {
    const { f, seen } = framer();
    f.push(Buffer.from('[INFO] sensor ready\nI (123) wifi: start\n"quoted\n'));
    assert.deepEqual(seen.junk, ["[INFO] sensor ready", "I (123) wifi: start", '"quoted']);
    assert.equal(seen.frames.length, 0);
  });

  test('a line is a frame only when it opens as one: {wifi} up is log output, {"oops is a broken frame', () => {
    const { f, seen } = framer();
    f.push(Buffer.from('{wifi} up\n{ssid: home}\n{\n{"oops\n{ "id": 1 }\n{}\n[ {"id":2} ]\n[{x}]\n'));
    assert.deepEqual(seen.junk, ["{wifi} up", "{ssid: home}", "{", "[{x}]"]);
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      ['{"oops', '{ "id": 1 }', "{}", '[ {"id":2} ]'],
    );
  });

  test("boot noise before a frame on the same line is skipped", () => {
    const { f, seen } = framer();
    f.push(Buffer.from([0x00, 0xff, 0xfe, ...Buffer.from('{"id":7,"method":"X"}\n')]));
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      ['{"id":7,"method":"X"}'],
    );
  });

  test("a 1 MiB line with no newline is dropped once, and the next frame is served", () => {
    const { f, seen } = framer();
    const big = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < big.length; i += 4096) f.push(big.subarray(i, i + 4096));
    f.push(Buffer.from('\n{"id":1,"method":"RPC.Ping"}\n'));
    assert.deepEqual(seen.dropped, ["oversize"]);
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      ['{"id":1,"method":"RPC.Ping"}'],
    );
  });

  test("an oversized line arriving in one chunk is dropped and counted", () => {
    const { f, seen } = framer(16);
    f.push(Buffer.from('{"id":1,"method":"Too.Long.For.The.Limit"}\n{"id":2}\n'));
    assert.deepEqual(seen.dropped, ["oversize"]);
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      ['{"id":2}'],
    );
  });

  test("a line exactly at the limit is accepted", () => {
    const line = '{"id":12345678}';
    const { f, seen } = framer(line.length);
    f.push(Buffer.from(`${line}\n`));
    assert.equal(seen.frames.length, 1);
  });

  test("invalid UTF-8 in a frame drops that frame only", () => {
    const { f, seen } = framer();
    f.push(
      Buffer.concat([Buffer.from('{"id":1,"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n{"id":2}\n')]),
    );
    assert.deepEqual(seen.dropped, ["utf8"]);
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      ['{"id":2}'],
    );
  });

  test("a NUL byte in a line does not stop the next frame", () => {
    const { f, seen } = framer();
    f.push(Buffer.from('{"id":1\u0000}\n{"id":2}\n'));
    assert.equal(seen.frames.length, 2);
    assert.equal(seen.frames[1]!.text, '{"id":2}');
  });

  test("UTF-8 text in frames survives chunk splits inside a multi-byte character", () => {
    const bytes = Buffer.from('{"id":1,"params":"héllo ✓"}\n');
    const { f, seen } = framer();
    for (const b of bytes) f.push(Buffer.from([b]));
    assert.equal(seen.frames[0]!.text, '{"id":1,"params":"héllo ✓"}');
  });

  test("XON and XOFF bytes are stripped", () => {
    const { f, seen } = framer();
    f.push(Buffer.from('\x11{"id":1,\x13"method":"A"}\n'));
    assert.equal(seen.frames[0]!.text, '{"id":1,"method":"A"}');
  });

  test("mos framing: triple-quote delimiters with a CRC32 suffix are unwrapped and checked", () => {
    const json = '{"src":"mos","id":1458390294012,"method":"Sys.GetInfo"}';
    const { f, seen } = framer();
    f.push(Buffer.from(`"""\x04"""\n\n`));
    f.push(Buffer.from(`\n"""${json}${crc32Hex(json)}"""\n`));
    assert.equal(seen.handshakes, 1);
    assert.deepEqual(seen.frames, [{ text: json, info: { crc: true, compat: true } }]);
  });

  test("the reference CRC check vector is honoured", () => {
    assert.equal(crc32Hex('{"method":"Sys.GetInfo"}'), "010a4ff9");
    const { f, seen } = framer();
    f.push(Buffer.from('{"method":"Sys.GetInfo"}010a4ff9\n'));
    assert.deepEqual(seen.frames, [{ text: '{"method":"Sys.GetInfo"}', info: { crc: true, compat: false } }]);
  });

  test("a frame whose CRC does not match is dropped", () => {
    const { f, seen } = framer();
    f.push(Buffer.from('{"method":"Sys.GetInfo"}deadbeef\n{"id":2}\n'));
    assert.deepEqual(seen.dropped, ["crc"]);
    assert.equal(seen.frames.length, 1);
  });

  test("two triple-quoted frames on one line are both delivered", () => {
    const { f, seen } = framer();
    f.push(Buffer.from('"""{"id":1}""""""{"id":2}"""\n'));
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      ['{"id":1}', '{"id":2}'],
    );
  });

  test("encodeLine writes newline frames, and mos compat frames with CRC", () => {
    assert.equal(encodeLine('{"id":1}'), '{"id":1}\n');
    assert.equal(encodeLine('{"method":"Sys.GetInfo"}', { crc: true }), '{"method":"Sys.GetInfo"}010a4ff9\n');
    assert.equal(encodeLine('{"id":1}', { compat: true }), '\n"""{"id":1}"""\n');
  });

  test("what encodeLine writes, the framer reads back", () => {
    const { f, seen } = framer();
    for (const opts of [{}, { crc: true }, { compat: true }, { crc: true, compat: true }]) {
      f.push(Buffer.from(encodeLine('{"id":1,"result":"a\\nb"}', opts)));
    }
    assert.equal(seen.frames.length, 4);
    assert.ok(seen.frames.every((x) => x.text === '{"id":1,"result":"a\\nb"}'));
  });
});

describe("hosts that print frames without a newline (mjson_printf)", () => {
  test("frames glued together on one line are split", () => {
    const { f, seen } = framer();
    f.push(Buffer.from('{"method":"Shadow.Report","params":{"on":false}}{"id":1,"result":"}{"}\n'));
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      ['{"method":"Shadow.Report","params":{"on":false}}', '{"id":1,"result":"}{"}'],
    );
  });

  test("a complete object held with no newline is delivered by flush, a partial one is not", () => {
    const { f, seen } = framer();
    f.push(Buffer.from('{"method":"Shadow.Report","params":{"on":true}}'));
    assert.equal(seen.frames.length, 0);
    assert.equal(f.flush(), true);
    assert.equal(seen.frames[0]!.text, '{"method":"Shadow.Report","params":{"on":true}}');
    assert.equal(f.holding, false);
    f.push(Buffer.from('{"method":"MQTT.Pub","params":{"topic":"a{'));
    assert.equal(f.flush(), false);
    f.push(Buffer.from('"}}{"id":2}'));
    assert.equal(f.flush(), true);
    assert.deepEqual(
      seen.frames.map((x) => x.text),
      [
        '{"method":"Shadow.Report","params":{"on":true}}',
        '{"method":"MQTT.Pub","params":{"topic":"a{"}}',
        '{"id":2}',
      ],
    );
  });

  test("a held log line is not flushed as a frame", () => {
    const { f, seen } = framer();
    f.push(Buffer.from("booting..."));
    assert.equal(f.flush(), false);
    f.push(Buffer.from("\n"));
    assert.deepEqual(seen.junk, ["booting..."]);
  });
});
