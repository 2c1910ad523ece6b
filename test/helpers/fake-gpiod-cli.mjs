// A fake of the libgpiod tools (gpioget, gpioset, gpiomon) for machines without GPIO, faithful to
// the command line of 1.x (Debian bookworm's 1.6.3) or 2.x (trixie's) as FAKE_GPIOD_MAJOR says:
// getopt's option handling and messages, each version's output formats, a line held by one process
// at a time ("Device or resource busy"), 1.x gpiomon's stdout block-buffered on a pipe unless -b,
// 2.x gpioset holding until killed and --toggle. Run as `node fake-gpiod-cli.mjs TOOL ARGS…`.
// State lives in FAKE_GPIOD_DIR: calls.jsonl (every invocation), lines/CHIP-OFFSET (the level an
// input sees, written by tests), levels/CHIP-OFFSET.log (`ms level` each time gpioset drives one),
// owners/CHIP-OFFSET (pid of the process holding the line).
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { setInterval, setTimeout } from "node:timers";

const [tool, ...argv] = process.argv.slice(2);
const dir = process.env.FAKE_GPIOD_DIR ?? ".";
const major = process.env.FAKE_GPIOD_MAJOR === "2" ? 2 : 1;
for (const d of ["lines", "levels", "owners"]) mkdirSync(join(dir, d), { recursive: true });
appendFileSync(
  join(dir, "calls.jsonl"),
  `${JSON.stringify({ tool, argv, pid: process.pid, t: Date.now() })}\n`,
);

/** Option specs: short letters (`:` = takes an argument) and long names → [letter, takes argument]. */
const SPECS = {
  1: {
    gpioget: { short: "hvlB:", long: { help: "h", version: "v", "active-low": "l", "bias=": "B" } },
    gpioset: {
      short: "hvlB:D:m:s:u:b",
      long: {
        help: "h",
        version: "v",
        "active-low": "l",
        "bias=": "B",
        "drive=": "D",
        "mode=": "m",
        "sec=": "s",
        "usec=": "u",
        background: "b",
      },
    },
    gpiomon: {
      short: "hvlB:n:srfbF:",
      long: {
        help: "h",
        version: "v",
        "active-low": "l",
        "bias=": "B",
        "num-events=": "n",
        silent: "s",
        "rising-edge": "r",
        "falling-edge": "f",
        "line-buffered": "b",
        "format=": "F",
      },
    },
  },
  2: {
    gpioget: {
      short: "ab:c:C:hlp:sv",
      long: {
        "as-is": "a",
        "bias=": "b",
        "by-name": "B",
        "chip=": "c",
        "consumer=": "C",
        help: "h",
        "active-low": "l",
        "hold-period=": "p",
        numeric: "N",
        strict: "s",
        unquoted: "Q",
        version: "v",
      },
    },
    gpioset: {
      short: "b:c:C:d:hlp:st:vz",
      long: {
        "active-low": "l",
        banner: "-",
        "bias=": "b",
        "by-name": "B",
        "chip=": "c",
        "consumer=": "C",
        daemonize: "z",
        "drive=": "d",
        help: "h",
        "hold-period=": "p",
        strict: "s",
        "toggle=": "t",
        unquoted: "Q",
        version: "v",
      },
    },
    gpiomon: {
      short: "b:c:C:e:E:hF:ln:p:qshv",
      long: {
        banner: "-",
        "bias=": "b",
        "by-name": "B",
        "chip=": "c",
        "consumer=": "C",
        "debounce-period=": "p",
        "edges=": "e",
        "event-clock=": "E",
        "format=": "F",
        help: "h",
        "idle-timeout=": "i",
        localtime: "L",
        "num-events=": "n",
        quiet: "q",
        silent: "q",
        strict: "s",
        unquoted: "Q",
        utc: "U",
        version: "v",
      },
    },
  },
};

function die(message) {
  process.stderr.write(`${tool}: ${message}\n`);
  process.exit(1);
}

/** getopt_long with a leading `+`: options until the first operand, glibc's messages. */
function getopt(args, spec) {
  const opts = {};
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      i++;
      break;
    }
    if (a.startsWith("--")) {
      const [name, inline] = a.slice(2).split(/=(.*)/s);
      const withArg = spec.long[`${name}=`];
      const flag = spec.long[name];
      if (withArg === undefined && flag === undefined) {
        process.stderr.write(`${tool}: unrecognized option '--${name}'\n`);
        die(`try ${tool} --help`);
      }
      if (withArg !== undefined) {
        const value = inline ?? args[++i];
        if (value === undefined) {
          process.stderr.write(`${tool}: option '--${name}' requires an argument\n`);
          die(`try ${tool} --help`);
        }
        opts[withArg] = value;
      } else opts[flag] = true;
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const c = a[k];
        const at = spec.short.indexOf(c);
        if (at < 0) {
          process.stderr.write(`${tool}: invalid option -- '${c}'\n`);
          die(`try ${tool} --help`);
        }
        if (spec.short[at + 1] === ":") {
          const value = k + 1 < a.length ? a.slice(k + 1) : args[++i];
          if (value === undefined) {
            process.stderr.write(`${tool}: option requires an argument -- '${c}'\n`);
            die(`try ${tool} --help`);
          }
          opts[c] = value;
          break;
        }
        opts[c] = true;
      }
      continue;
    }
    break;
  }
  return { opts, operands: args.slice(i) };
}

const spec = SPECS[major][tool];
if (spec === undefined) die("not a libgpiod tool");
const { opts, operands } = getopt(argv, spec);

if (opts.v) {
  process.stdout.write(
    major === 1
      ? `${tool} (libgpiod) v1.6.3\nCopyright (C) 2017-2018 Bartosz Golaszewski\nLicense: LGPLv2.1\n`
      : `${tool} (libgpiod) v2.1.3\nCopyright (C) 2017-2023 Bartosz Golaszewski\nLicense: GPL-2.0-or-later\n`,
  );
  process.stdout.write("This is free software: you are free to change and redistribute it.\n");
  process.stdout.write("There is NO WARRANTY, to the extent permitted by law.\n");
  process.exit(0);
}

const BIASES =
  major === 1 ? ["as-is", "disable", "pull-down", "pull-up"] : ["pull-down", "pull-up", "disabled", "as-is"];
const biasOpt = major === 1 ? opts.B : opts.b;
if (biasOpt !== undefined && !BIASES.includes(biasOpt)) die(`invalid bias: ${biasOpt}`);

/** The chip name a chip argument resolves to (name, number or path of gpiochip0..3, 32 lines each). */
function chipName(arg) {
  const m = /^(?:\/dev\/)?(?:gpiochip)?([0-3])$/.exec(arg ?? "");
  if (m === null)
    die(
      major === 1 ? `unable to open GPIO chip '${arg}'` : `cannot find GPIO chip character device '${arg}'`,
    );
  return `gpiochip${m[1]}`;
}

/** [chip, offsets, values] from the operands, as each version reads them. */
function lines(withValues) {
  let chip;
  let items;
  if (major === 1) {
    if (operands.length < 1) die("gpiochip must be specified");
    if (operands.length < 2)
      die(
        withValues
          ? "at least one GPIO line offset to value mapping must be specified"
          : "at least one GPIO line offset must be specified",
      );
    chip = chipName(operands[0]);
    items = operands.slice(1);
  } else {
    if (operands.length < 1)
      die(
        withValues
          ? "at least one GPIO line value must be specified"
          : "at least one GPIO line must be specified",
      );
    // 2.x: without --chip a line is a name, and these chips have unnamed lines.
    if (opts.c === undefined) die(`cannot find line '${operands[0].split("=")[0]}'`);
    chip = chipName(opts.c);
    items = operands;
  }
  return items.map((item) => {
    const [off, raw] = withValues ? item.split("=") : [item];
    const offset = Number(off);
    if (!/^\d+$/.test(off) || offset > 31)
      die(major === 1 ? `invalid offset: ${off}` : `offset ${off} is out of range on chip '${chip}'`);
    let value;
    if (withValues) {
      const words =
        major === 1
          ? { 0: 0, 1: 1 }
          : { 0: 0, 1: 1, inactive: 0, active: 1, off: 0, on: 1, false: 0, true: 1 };
      value = words[raw];
      if (value === undefined)
        die(major === 1 ? `invalid offset<->value mapping: ${item}` : `invalid line value: '${raw}'`);
    }
    return { chip, offset, value, key: `${chip}-${offset}` };
  });
}

/** Takes the lines for this process, or dies as the kernel's EBUSY makes the tools die. */
function request(ls) {
  for (const l of ls) {
    const owner = join(dir, "owners", l.key);
    if (existsSync(owner)) {
      const pid = Number(readFileSync(owner, "utf8"));
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (alive && pid !== process.pid)
        die(
          major === 1
            ? `error ${tool === "gpioset" ? "setting the GPIO line values" : "waiting for events"}: Device or resource busy`
            : `unable to request lines on chip '/dev/${l.chip}': Device or resource busy`,
        );
    }
    writeFileSync(owner, String(process.pid));
  }
  const releaseAll = () => {
    for (const l of ls) {
      const owner = join(dir, "owners", l.key);
      if (existsSync(owner) && readFileSync(owner, "utf8") === String(process.pid)) rmSync(owner);
    }
  };
  process.on("exit", releaseAll);
  return releaseAll;
}

function inputLevel(l) {
  const file = join(dir, "lines", l.key);
  if (existsSync(file)) return Number(readFileSync(file, "utf8").trim()) === 1 ? 1 : 0;
  return biasOpt === "pull-up" ? 1 : 0;
}

function drive(ls, values) {
  ls.forEach((l, i) => {
    writeFileSync(join(dir, "lines", l.key), String(values[i]));
    appendFileSync(join(dir, "levels", `${l.key}.log`), `${Date.now()} ${values[i]}\n`);
  });
}

/** Ends on SIGTERM/SIGINT as each version does: 1.x catches them and exits 0, 2.x dies of them. */
function exitOnSignals(release) {
  for (const sig of ["SIGTERM", "SIGINT"])
    process.on(sig, () => {
      release();
      if (major === 1) process.exit(0);
      process.removeAllListeners(sig);
      process.kill(process.pid, sig);
    });
}

function period(text) {
  const m = /^(\d+)(us|ms|s|m)?$/.exec(text);
  if (m === null) die("invalid period");
  const n = Number(m[1]);
  return { us: n / 1000, ms: n, s: n * 1000, m: n * 60000, undefined: n }[m[2]];
}

const keepAlive = () => setInterval(() => undefined, 1 << 30);

if (tool === "gpioget") {
  const ls = lines(false);
  const levels = ls.map(inputLevel);
  if (major === 1) process.stdout.write(`${levels.join(" ")}\n`);
  else if (opts.N) process.stdout.write(`${levels.join(" ")}\n`);
  else {
    const q = opts.Q ? "" : '"';
    process.stdout.write(
      `${ls.map((l, i) => `${q}${l.offset}${q}=${levels[i] ? "active" : "inactive"}`).join(" ")}\n`,
    );
  }
  process.exit(0);
}

if (tool === "gpioset") {
  const ls = lines(true);
  const release = request(ls);
  let values = ls.map((l) => l.value);
  drive(ls, values);
  exitOnSignals(release);
  if (major === 1) {
    const mode = opts.m ?? "exit";
    if (!["exit", "wait", "time", "signal"].includes(mode)) die(`invalid mode: ${mode}`);
    if (mode === "exit") process.exit(0);
    if (mode === "time")
      setTimeout(() => process.exit(0), Number(opts.s ?? 0) * 1000 + Number(opts.u ?? 0) / 1000);
    else if (mode === "wait") process.stdin.once("data", () => process.exit(0));
    else keepAlive();
  } else {
    if (opts["-"])
      process.stdout.write(
        ls.length === 1
          ? `Setting line '${ls[0].offset}'...\n`
          : `Setting lines ${ls
              .slice(0, -1)
              .map((l) => `'${l.offset}'`)
              .join(", ")} and '${ls.at(-1).offset}'...\n`,
      );
    const periods = opts.t === undefined ? [] : String(opts.t).split(",").map(period);
    if (periods.length === 1 && periods[0] === 0) process.exit(0);
    keepAlive();
    let i = 0;
    const next = () => {
      if (i === periods.length) i = 0;
      const wait = periods[i];
      setTimeout(() => {
        values = values.map((v) => (v === 1 ? 0 : 1));
        drive(ls, values);
        i++;
        if (i === periods.length - 1 && periods[i] === 0) process.exit(0);
        next();
      }, wait);
    };
    if (periods.length > 0) next();
  }
}

if (tool === "gpiomon") {
  const ls = lines(false);
  // The levels as they were before the line is claimed: a test presses as soon as it sees the
  // claim, and a level read after it could already be the pressed one (the press never reported).
  let last = ls.map(inputLevel);
  exitOnSignals(request(ls));
  // glibc: stdout on a pipe is block-buffered; 1.x flushes per event only with -b.
  const buffered = major === 1 && !opts.b && !process.stdout.isTTY;
  let pending = "";
  const out = (text) => {
    if (!buffered) process.stdout.write(text);
    else {
      pending += text;
      if (pending.length >= 4096) {
        process.stdout.write(pending);
        pending = "";
      }
    }
  };
  const t0 = process.hrtime.bigint();
  setInterval(() => {
    ls.forEach((l, i) => {
      const now = inputLevel(l);
      if (now === last[i]) return;
      last[i] = now;
      const rising = now === 1;
      const ns = process.hrtime.bigint() - t0;
      const sec = ns / 1_000_000_000n;
      const frac = String(ns % 1_000_000_000n).padStart(9, "0");
      if (opts.F !== undefined) {
        const e = major === 1 ? (rising ? "1" : "0") : rising ? "1" : "2";
        out(
          `${String(opts.F)
            .replaceAll("%o", String(l.offset))
            .replaceAll("%e", e)
            .replaceAll("%E", rising ? "rising" : "falling")}\n`,
        );
      } else if (major === 1) {
        out(
          `event: ${rising ? " RISING EDGE" : "FALLING EDGE"} offset: ${l.offset} timestamp: [${String(sec).padStart(8)}.${frac}]\n`,
        );
      } else out(`${sec}.${frac}\t${rising ? "rising" : "falling"}\t${l.chip} ${l.offset}\n`);
    });
  }, 10);
}
