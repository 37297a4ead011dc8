// Live status over server-sent events, read with fetch() so that the Authorization header goes
// along (EventSource cannot send headers). Reconnects with backoff; the page polls meanwhile.

import { authHeaders } from "./api.js";

const EVENTS_PATH = "api/v1/media/events";
const SILENCE_MS = 45_000; // three missed heartbeats: the stream is dead even if TCP says not

/**
 * Follow the signed-in user's uploads.
 * on: { upload(payload), resync(), state("live" | "reconnecting" | "unavailable"), unauthorized() }
 */
export function connectLive(on) {
  let stopped = false;
  let controller = null;

  async function run() {
    let delay = 1000;
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetch(EVENTS_PATH, {
          headers: { Accept: "text/event-stream", ...authHeaders() },
          cache: "no-store",
          signal: controller.signal,
        });
        if (response.status === 401) return on.unauthorized();
        if (response.status === 404) return on.state("unavailable");
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        await read(response.body, controller, (event, data) => {
          if (event === "open") {
            delay = 1000;
            on.state("live");
          } else if (event === "upload") {
            on.upload(data);
          } else if (event === "resync") {
            on.resync();
          }
        });
      } catch {
        // network error or abort: reconnect below
      }
      if (stopped) return;
      on.state("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  }

  run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}

async function read(body, controller, emit) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        dispatch(block, emit);
      }
    }
  } finally {
    clearTimeout(watchdog);
  }
}

function dispatch(block, emit) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comments are heartbeats
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  try {
    emit(event, JSON.parse(data.join("\n")));
  } catch {
    // a frame we do not understand is skipped, not fatal
  }
}
