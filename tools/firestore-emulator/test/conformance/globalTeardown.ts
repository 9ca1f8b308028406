export default async function globalTeardown(): Promise<void> {
  const emu = (globalThis as any).__CONFORMANCE_EMULATOR__;
  if (emu) {
    await emu.stop();
    delete (globalThis as any).__CONFORMANCE_EMULATOR__;
  }
}
