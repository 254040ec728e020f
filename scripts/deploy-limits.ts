/** Cloudflare's Worker size limit: 64 MiB uncompressed, Free and Paid plans (the old 10 MiB compressed limit is gone). */
export const MAX_SCRIPT_BYTES = 64 * 1024 * 1024;
