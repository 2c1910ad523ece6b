/**
 * Runs one contender of bench/rpc-dispatch.ts alone for a few seconds, for profiling:
 *   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile-dispatch.ts [ccm|json-rpc-2.0|ceiling] [seconds]
 * ccm is the shipped build (tsc emit) unless BENCH_CCM=tsx.
 */
import { ensureBuild } from "./ccm-build.js";
import { OTHERS, ccmContender, framePool, loadRpcModules, type Contender } from "./rpc-dispatch.js";

const name = process.argv[2] ?? "ccm";
const seconds = Math.min(30, Math.max(0.1, Number(process.argv[3] ?? "4")));
const build = await ensureBuild();
try {
  const contenders: Contender[] = [ccmContender("ccm", await loadRpcModules(build.root)), ...OTHERS];
  const contender = contenders.find((c) => c.name === name);
  if (contender === undefined) {
    throw new Error(`unknown contender ${name}; one of ${contenders.map((c) => c.name).join(", ")}`);
  }
  const pool = framePool();
  let sink = 0;
  let delivered = 0;
  const fire = contender.build((text) => {
    sink += text.length;
    delivered++;
  });
  const t0 = performance.now();
  let fired = 0;
  while (performance.now() - t0 < seconds * 1000) {
    for (const text of pool) fire(text);
    fired += pool.length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${name}: ${Math.round(delivered / s).toLocaleString("en-US")} frames/s (${fired} fired, ${delivered} answered, ${sink} bytes)`,
  );
} finally {
  await build.cleanup();
}
