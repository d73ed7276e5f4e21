// The engine's public surface: re-exports only.

export * from './admission.js';
export * from './cache.js';
export * from './define-node.js';
export * from './errors.js';
export * from './events.js';
export * from './executor.js';
export * from './migrate.js';
export * from './paths.js';
export * from './plan.js';
export * from './registry.js';
export * from './types.js';
export * from './validate.js';
export * from './workflow.js';
