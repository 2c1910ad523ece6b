/**
 * Faults the emulated bootloader injects on request (reference stm32-ota.md §3.5), so that tests can
 * hold a flasher to its recovery paths: NACK storms, a byte lost or damaged on the wire in either
 * direction, a bootloader that goes silent, a write that is ACKed but does not land, an unanswered
 * 0x7F. Faults wait in a plan shared by every bootloader an MCU starts, so they outlive resets until
 * they are used; each is used once (a storm once per NACK).
 */

/** Which way a byte travels: from the host to the bootloader or back. */
export type WireDirection = "to-device" | "to-host";

export type Stm32Fault =
  /** NACK the next `count` commands with code `command` (any command when omitted). */
  | { kind: "nack"; count: number; command?: number }
  /**
   * In the next exchange of `command` (any when omitted), after `skip` of them, lose byte `at` on the
   * wire. To the device, `at` counts what the host sends after the command's two bytes (0 = the first
   * address byte); to the host, it counts the bootloader's answers from the command's ACK (0).
   */
  | { kind: "drop"; direction: WireDirection; at: number; command?: number; skip?: number }
  /** As drop, but the byte arrives with the bits of `mask` flipped (default 0x10). */
  | {
      kind: "corrupt";
      direction: WireDirection;
      at: number;
      command?: number;
      skip?: number;
      mask?: number;
    }
  /**
   * The next `command` (any when omitted), after `skip` of them, is taken and never answered, and the
   * bootloader hears nothing for `ms` (until the part is reset when omitted); then it waits for a
   * command again.
   */
  | { kind: "stall"; command?: number; skip?: number; ms?: number }
  /**
   * The next `count` Write Memory into flash are ACKed, yet the data does not land as sent: nothing is
   * written ("lost", as on a write-protected page), or bit 0 of its first byte is flipped ("flip").
   */
  | { kind: "bad-write"; count: number; damage?: "lost" | "flip" }
  /** The next `count` 0x7F go unanswered (a bootloader not listening yet, BOOT0 not high). */
  | { kind: "no-sync"; count: number }
  /**
   * The next `count` NACKs reach the host `ms` late: a loaded machine or a USB adapter holding bytes
   * back, which a flasher must not mistake for silence.
   */
  | { kind: "late-nack"; count: number; ms: number };

/** A fault bound to the exchange of one command: what happens to its bytes. */
export interface ExchangeFault {
  fault: Extract<Stm32Fault, { kind: "drop" | "corrupt" }>;
  /** Bytes seen so far in each direction. */
  toDevice: number;
  toHost: number;
}

const matches = (command: number | undefined, code: number): boolean =>
  command === undefined || command === code;

/** Uses one NACK of a storm planned for `code`; true when the command must be NACKed. */
export function takeNack(plan: Stm32Fault[], code: number): boolean {
  const f = plan.find((p) => p.kind === "nack" && p.count > 0 && matches(p.command, code));
  if (f?.kind !== "nack") return false;
  f.count--;
  return true;
}

/** Uses a drop, corrupt or stall planned for the command `code`, if any. */
export function takeExchangeFault(
  plan: Stm32Fault[],
  code: number,
): ExchangeFault | { stallMs: number } | undefined {
  const i = plan.findIndex(
    (p) => (p.kind === "drop" || p.kind === "corrupt" || p.kind === "stall") && matches(p.command, code),
  );
  const planned = plan[i];
  if (planned === undefined || !("direction" in planned || planned.kind === "stall")) return undefined;
  if ((planned.skip ?? 0) > 0) {
    planned.skip = (planned.skip ?? 0) - 1;
    return undefined;
  }
  const [f] = plan.splice(i, 1);
  if (f?.kind === "stall") return { stallMs: f.ms ?? Number.POSITIVE_INFINITY };
  if (f?.kind === "drop" || f?.kind === "corrupt") return { fault: f, toDevice: 0, toHost: 0 };
  return undefined;
}

/** Uses one counted fault of `kind` (bad-write, no-sync); returns it, or undefined when none is left. */
export function takeCounted<K extends "bad-write" | "no-sync" | "late-nack">(
  plan: Stm32Fault[],
  kind: K,
): Extract<Stm32Fault, { kind: K }> | undefined {
  const f = plan.find(
    (p): p is Extract<Stm32Fault, { kind: K }> => p.kind === kind && "count" in p && p.count > 0,
  );
  if (f === undefined) return undefined;
  (f as { count: number }).count--;
  return f;
}

/** One byte through an exchange's fault: the byte as it arrives, or undefined when it is lost. */
export function passByte(x: ExchangeFault, direction: WireDirection, b: number): number | undefined {
  const index = direction === "to-device" ? x.toDevice++ : x.toHost++;
  const f = x.fault;
  if (f.direction !== direction || f.at !== index) return b;
  return f.kind === "drop" ? undefined : (b ^ (f.mask ?? 0x10)) & 0xff;
}

/** How many faults are still waiting (NACKs and counted faults by their count). */
export function pendingFaults(plan: readonly Stm32Fault[]): number {
  return plan.reduce((sum, f) => sum + ("count" in f ? f.count : 1), 0);
}
