/** Stops what `npm start` leaves running: the local trainer, then the emulator. */
import { stopEmulator } from './emulator';
import { stopLocalTrainer } from './local-trainer';

console.log((await stopLocalTrainer()) ? 'trainer stopped' : 'no trainer running');
await stopEmulator();
