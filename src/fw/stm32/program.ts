/**
 * Erasing, writing and verifying the flash through a {@link FlashSession}. Flash cannot be programmed
 * twice without an erase, so a block whose data may have reached the flash before its exchange failed
 * (the ACK lost, a NACK after the data) is written again only after its page is erased again, with the
 * blocks of that page before it (reference stm32-ota.md §7 step 7); a page that does not read back as
 * written is erased and written again once before the flash fails.
 */
import { eraseTimeoutMs, massEraseTimeoutMs, planErase } from "./erase.js";
import type { FlashPage } from "./devices.js";
import type { WriteBlock } from "./image-plan.js";
import { failure, hex, retriable, type FlashSession, type FlashStep } from "./session.js";

/** Progress of the long steps: pages for erase, bytes for write and verify. */
export interface FlashProgress {
  step: "erase" | "write" | "verify";
  done: number;
  total: number;
}

/** What programming needs besides the blocks. */
export interface ProgramContext {
  session: FlashSession;
  eraseCommand: 0x43 | 0x44;
  /** Every page of the part: what a mass erase erases. */
  allPages: readonly FlashPage[];
  onProgress?: ((p: FlashProgress) => void) | undefined;
  /** Throws when the flash was aborted. */
  checkAbort: (step: FlashStep) => void;
}

/** The blocks of one page. */
interface PageBlocks {
  page: FlashPage;
  blocks: WriteBlock[];
}

function byPage(blocks: readonly WriteBlock[]): PageBlocks[] {
  const groups: PageBlocks[] = [];
  for (const b of blocks) {
    const last = groups.at(-1);
    if (last?.page.index === b.page.index) last.blocks.push(b);
    else groups.push({ page: b.page, blocks: [b] });
  }
  return groups;
}

const bytesOf = (blocks: readonly WriteBlock[]): number => blocks.reduce((n, b) => n + b.data.length, 0);

/**
 * Erases `pages`: in batches, or the whole flash at once when the erase command cannot number them
 * or the image covers every page (then page by page if the bootloader refuses the mass erase).
 * Resolves with what was erased.
 */
export async function erasePages(
  ctx: ProgramContext,
  pages: readonly FlashPage[],
): Promise<{ mass: boolean; erased: number }> {
  const { session, eraseCommand } = ctx;
  const client = session.client;
  const all = ctx.allPages;
  const plan = planErase(pages, eraseCommand, all.length);
  const name = eraseCommand === 0x44 ? "Extended Erase" : "Erase";
  session.step(
    "erase",
    plan.mass ? `the whole flash with ${name} (${plan.reason})` : `${pages.length} pages with ${name}`,
  );
  let batches = plan.mass ? [] : plan.batches;
  if (plan.mass) {
    ctx.checkAbort("erase");
    ctx.onProgress?.({ step: "erase", done: 0, total: all.length });
    const mass = (): Promise<void> => client.massErase(eraseCommand, massEraseTimeoutMs(all));
    try {
      await (plan.fallback === undefined ? session.exchange("erase", mass) : mass());
      ctx.onProgress?.({ step: "erase", done: all.length, total: all.length });
      return { mass: true, erased: all.length };
    } catch (e) {
      if (plan.fallback === undefined) throw e;
      if (!retriable(e)) throw failure("erase", "mass erase", e);
      session.step("erase", `mass erase refused: ${pages.length} pages with ${name}`);
      await session.recover();
      batches = plan.fallback;
    }
  }
  let erased = 0;
  ctx.onProgress?.({ step: "erase", done: 0, total: pages.length });
  for (const batch of batches) {
    ctx.checkAbort("erase");
    await session.exchange("erase", () =>
      client.erase(
        eraseCommand,
        batch.map((p) => p.index),
        eraseTimeoutMs(batch),
      ),
    );
    erased += batch.length;
    ctx.onProgress?.({ step: "erase", done: erased, total: pages.length });
  }
  return { mass: false, erased };
}

/** Erases one page again; true when that took the whole flash (Erase cannot number the page). */
async function eraseAgain(ctx: ProgramContext, page: FlashPage, why: string): Promise<boolean> {
  const { session, eraseCommand } = ctx;
  const plan = planErase([page], eraseCommand, ctx.allPages.length);
  session.step("erase", `page ${page.index} again (${hex(page.start)}): ${why}`);
  await session.exchange("erase", () =>
    plan.mass
      ? session.client.massErase(eraseCommand, massEraseTimeoutMs(ctx.allPages))
      : session.client.erase(eraseCommand, [page.index], eraseTimeoutMs([page])),
  );
  return plan.mass;
}

/** All 0xFF: what an erased page already holds there. */
export function isBlank(data: Uint8Array): boolean {
  for (const b of data) if (b !== 0xff) return false;
  return true;
}

/**
 * Writes the blocks page by page, retrying a failed block after the session recovered; when its data
 * may have landed, its page is erased again and written from its first block. A blank block (all
 * 0xFF: an image's padding) is not sent, its page being erased; verify still reads it back.
 * Resolves with the number of blank blocks left out.
 */
export async function writeBlocks(ctx: ProgramContext, blocks: readonly WriteBlock[]): Promise<number> {
  const { session } = ctx;
  const groups = byPage(blocks);
  const total = bytesOf(blocks);
  const attempts = new Map<number, number>();
  const blank = new Set<number>();
  let reported = 0;
  let done = 0;
  const advance = (bytes: number): void => {
    done += bytes;
    if (done > reported) {
      reported = done;
      ctx.onProgress?.({ step: "write", done, total });
    }
  };
  let g = 0;
  let i = 0;
  while (g < groups.length) {
    const group = groups[g]!;
    const block = group.blocks[i];
    if (block === undefined) {
      g++;
      i = 0;
      continue;
    }
    ctx.checkAbort("write");
    if (isBlank(block.data)) {
      blank.add(block.address);
      i++;
      advance(block.data.length);
      continue;
    }
    const n = (attempts.get(block.address) ?? 0) + 1;
    attempts.set(block.address, n);
    try {
      await session.client.writeMemory(block.address, block.data);
    } catch (e) {
      if (!retriable(e) || n > session.retries) throw session.gaveUp("write", n, e, block.address);
      try {
        await session.recover();
      } catch (r) {
        throw session.gaveUp("write", n, r, block.address);
      }
      if (e.dataSent) {
        const whole = await eraseAgain(ctx, group.page, `the write at ${hex(block.address)} failed`);
        done -= bytesOf(whole ? blocks.slice(0, blocks.indexOf(block)) : group.blocks.slice(0, i));
        if (whole) g = 0;
        i = 0;
      }
      continue;
    }
    attempts.delete(block.address);
    i++;
    advance(block.data.length);
  }
  return blank.size;
}

/**
 * Reads every block back. A page that does not hold what was written is erased and written again,
 * once; if it still does not, the flash fails at step verify naming the first wrong address.
 */
export async function verifyBlocks(ctx: ProgramContext, blocks: readonly WriteBlock[]): Promise<void> {
  const groups = byPage(blocks);
  const total = bytesOf(blocks);
  const rewritten = new Set<number>();
  let reported = 0;
  let done = 0;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g]!;
    const wrong = await firstMismatch(ctx, group.blocks);
    if (wrong === undefined) {
      done += bytesOf(group.blocks);
      if (done > reported) {
        reported = done;
        ctx.onProgress?.({ step: "verify", done, total });
      }
      continue;
    }
    if (rewritten.has(group.page.index)) {
      throw failure("verify", `flash at ${hex(wrong)} does not hold what was written`, undefined, {
        address: wrong,
      });
    }
    rewritten.add(group.page.index);
    const whole = await eraseAgain(ctx, group.page, `${hex(wrong)} did not read back as written`);
    await writeBlocks(ctx, whole ? blocks : group.blocks);
    if (whole) {
      g = -1;
      done = 0;
    } else {
      g--;
    }
  }
}

/** The first address of `blocks` whose flash differs from the block, or undefined. */
async function firstMismatch(
  ctx: ProgramContext,
  blocks: readonly WriteBlock[],
): Promise<number | undefined> {
  const { session } = ctx;
  for (const b of blocks) {
    ctx.checkAbort("verify");
    const got = await session.exchange(
      "verify",
      () => session.client.readMemory(b.address, b.data.length),
      b.address,
    );
    if (!got.equals(b.data)) {
      let at = 0;
      while (got[at] === b.data[at]) at++;
      return b.address + at;
    }
  }
  return undefined;
}
