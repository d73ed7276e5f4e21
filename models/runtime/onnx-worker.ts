// The worker thread's entry: it serves the session requests of models/runtime/onnx.ts (see onnx-thread.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { serveSessions } from './onnx.js';

if (parentPort === null) throw new Error('models/runtime/onnx-worker is a worker-thread entry; onnx.ts starts it');
serveSessions(parentPort, (workerData as { gate: Int32Array }).gate);
