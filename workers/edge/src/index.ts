// Entry file: exports only. The app is wired in app.ts.
import { createApp } from './app.js';

export default createApp();
