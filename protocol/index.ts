// The wire between server, workers and editor: REST bodies, WebSocket messages, preview frames. Re-exports only.

export * from './events.js';
export * from './preview.js';
export * from './rest.js';
