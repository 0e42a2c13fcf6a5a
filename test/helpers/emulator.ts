// Test-side access to the local AWS emulator (MiniStack); see scripts/emulator.ts and docs/ministack-notes.md.
export {
  deployStack,
  emulatorEnv,
  emulatorStatus,
  ensureVenv,
  isHealthy,
  localApiUrl,
  resetEmulator,
  startEmulator,
  stopEmulator,
  EMULATOR_URL,
  MINISTACK_VERSION,
  type DeployOptions,
  type StackOutputs,
} from '../../scripts/emulator';
