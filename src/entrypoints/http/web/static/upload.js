// Sending the bytes the way the create response says (`upload.protocol`):
//   put  — chunked Content-Range PUTs answered 308 (@mux/upchunk; Mux and the fake), or one PUT;
//   form — one multipart POST with the file in `file` (Cloudflare basic uploads);
//   tus  — tus 1.0 (tus-js-client) on the upload resource the service already created.
// Every transfer reports through `handlers` and returns { resumable, pause, resume, abort }.

const TUS_SCRIPT = new URL("./vendor/tus.min.js", import.meta.url);
const UPCHUNK_MODULE = "./vendor/upchunk.mjs";
const DEFAULT_CHUNK = 8 * 1024 * 1024;

/**
 * Start sending `file` as `ticket` (the create response's `upload`) says.
 * handlers: progress(sent, total), success(), error(message), note(message).
 */
export async function startTransfer(ticket, file, handlers) {
  switch (ticket.protocol) {
    case "tus":
      return tusTransfer(ticket, file, handlers);
    case "form":
      return xhrTransfer(ticket, file, handlers, "form");
    default:
      return putTransfer(ticket, file, handlers);
  }
}

function withoutHeaders(headers, ...names) {
  const lower = names.map((name) => name.toLowerCase());
  return Object.fromEntries(
    Object.entries(headers ?? {}).filter(([key]) => !lower.includes(key.toLowerCase())),
  );
}

/** The message of a problem+json body, else the status line. */
function describeFailure(status, text) {
  try {
    const problem = JSON.parse(text);
    if (problem?.title) return problem.detail ? `${problem.title}: ${problem.detail}` : problem.title;
  } catch {
    // not JSON
  }
  return status ? `The upload was refused (HTTP ${status}).` : "The connection failed.";
}

let tusLoading = null;
function loadTus() {
  if (globalThis.tus) return Promise.resolve(globalThis.tus);
  tusLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = TUS_SCRIPT.href;
    script.onload = () => resolve(globalThis.tus);
    script.onerror = () => {
      tusLoading = null;
      script.remove();
      reject(new Error("tus-js-client is not installed (run `npm ci --omit=dev`)."));
    };
    document.head.append(script);
  });
  return tusLoading;
}

async function tusTransfer(ticket, file, handlers) {
  const tus = await loadTus();
  const upload = new tus.Upload(file, {
    uploadUrl: ticket.url,
    uploadSize: file.size,
    ...(ticket.chunkSize ? { chunkSize: ticket.chunkSize } : {}),
    // tus-js-client sends Tus-Resumable itself; sending it twice would make "1.0.0, 1.0.0".
    headers: withoutHeaders(ticket.headers, "Tus-Resumable"),
    retryDelays: [0, 1000, 2000, 4000, 8000],
    storeFingerprintForResuming: false,
    onProgress: (sent, total) => handlers.progress(sent, total),
    onSuccess: () => handlers.success(),
    onError: (error) => {
      const response = error.originalResponse;
      handlers.error(
        response
          ? describeFailure(response.getStatus(), response.getBody())
          : "The connection was lost. Retry to resume from where the server stopped.",
      );
    },
    onShouldRetry: (error, attempt) => {
      const status = error.originalResponse?.getStatus() ?? 0;
      const retry = status === 0 || status >= 500 || status === 409 || status === 423;
      if (retry) handlers.note(`Connection interrupted; resuming (attempt ${attempt + 1})…`);
      return retry;
    },
  });
  upload.start();
  return {
    protocol: "tus",
    resumable: true,
    pause: () => upload.abort(),
    // start() asks the server for its offset (HEAD) and continues from there.
    resume: () => upload.start(),
    abort: () => upload.abort(),
  };
}

async function putTransfer(ticket, file, handlers) {
  let UpChunk;
  try {
    ({ UpChunk } = await import(UPCHUNK_MODULE));
  } catch {
    handlers.note("@mux/upchunk is not installed: sending the file in one request.");
    return xhrTransfer(ticket, file, handlers, "put");
  }
  // upchunk counts in KiB, in multiples of 256.
  const chunkKib = Math.max(256, Math.floor((ticket.chunkSize ?? DEFAULT_CHUNK) / 1024 / 256) * 256);
  const upload = UpChunk.createUpload({
    endpoint: ticket.url,
    file,
    method: ticket.method || "PUT",
    headers: withoutHeaders(ticket.headers, "Content-Type"),
    chunkSize: chunkKib,
    attempts: 5,
    delayBeforeAttempt: 1,
  });
  upload.on("progress", (event) => handlers.progress((file.size * event.detail) / 100, file.size));
  upload.on("success", () => handlers.success());
  upload.on("error", (event) => {
    const response = event.detail?.response;
    handlers.error(
      response ? describeFailure(response.statusCode, response.body) : event.detail?.message,
    );
  });
  upload.on("attemptFailure", (event) =>
    handlers.note(`Connection interrupted; retrying (${event.detail.attemptsLeft} attempts left)…`),
  );
  upload.on("offline", () => handlers.note("Offline: the upload goes on when the network is back."));
  upload.on("online", () => handlers.note("Back online: uploading."));
  return {
    protocol: "put",
    // Pausing takes effect between chunks, so it only means something with several of them.
    resumable: file.size > chunkKib * 1024,
    pause: () => upload.pause(),
    resume: () => upload.resume(),
    abort: () => upload.abort(),
  };
}

function xhrTransfer(ticket, file, handlers, kind) {
  const xhr = new XMLHttpRequest();
  xhr.open(ticket.method || (kind === "form" ? "POST" : "PUT"), ticket.url);
  const headers = kind === "form" ? withoutHeaders(ticket.headers, "Content-Type") : ticket.headers;
  for (const [name, value] of Object.entries(headers ?? {})) xhr.setRequestHeader(name, value);
  xhr.upload.onprogress = (event) => handlers.progress(event.loaded, event.total || file.size);
  xhr.onload = () => {
    if (xhr.status >= 200 && xhr.status < 300) {
      handlers.progress(file.size, file.size);
      handlers.success();
    } else {
      handlers.error(describeFailure(xhr.status, xhr.responseText));
    }
  };
  xhr.onerror = () => handlers.error("The connection failed.");
  if (kind === "form") {
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  } else {
    xhr.send(file);
  }
  return { protocol: kind, resumable: false, abort: () => xhr.abort() };
}
