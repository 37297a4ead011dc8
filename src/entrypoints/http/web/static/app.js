// The page: sign in, pick or drop a video, upload it with progress, follow its status, play it.

import { api, ApiError, session } from "./api.js";
import { connectLive } from "./live.js";
import { startTransfer } from "./upload.js";

const $ = (id) => document.getElementById(id);
const VENDOR = {
  "tus.min.js": "resumable (tus) uploads",
  "upchunk.mjs": "chunked uploads (a file goes in one request instead)",
  "hls.min.mjs": "HLS playback (Mux and Cloudflare videos)",
};
const STATUS_LABEL = { uploading: "Uploading", processing: "Processing", ready: "Ready", failed: "Failed" };
const PAGE_SIZE = 12;

let policy = null;
let live = null;
let pollTimer = null;
let liveState = "reconnecting";
let nextCursor = null;
let selected = null;
let current = null; // { id, file, ticket, transfer, state, samples, announced, mimeType }
let hls = null;
const uploads = new Map(); // id → the status route's body
let renewTimer = null; // renews the signed playback URL of the open player
const signedThumbs = new Map(); // id → signed thumbnail URL of a PRIVATE video

// -- formatting ------------------------------------------------------------------------------

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(value < 10 ? 1 : 0) : value} ${units[unit]}`;
}

function clock(seconds) {
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function timeLeft(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min left`;
  return `${(seconds / 3600).toFixed(1)} h left`;
}

function statusText(upload) {
  if (upload.status === "processing") return `Processing ${upload.progress ?? 0} %`;
  if (upload.status === "failed") {
    return `Failed: ${upload.failureReason || upload.failureCode || "unknown reason"}`;
  }
  return STATUS_LABEL[upload.status] ?? upload.status;
}

// -- policy and libraries --------------------------------------------------------------------

async function loadPolicy() {
  try {
    policy = await api("api/v1/media/policy");
    const types = policy.extensions.join(", ");
    $("policy-hint").textContent = `Accepted: ${types}; up to ${bytes(policy.maxFileSize)}.`;
    $("file").accept = [...policy.extensions, ...Object.keys(policy.types)].join(",");
    $("title").maxLength = policy.maxTitleLength;
    $("description").maxLength = policy.maxDescriptionLength;
  } catch {
    $("policy-hint").textContent = "The upload policy could not be loaded; the server will check.";
  }
}

async function checkLibraries() {
  const missing = [];
  await Promise.all(
    Object.entries(VENDOR).map(async ([name, purpose]) => {
      const response = await fetch(`static/media-core/vendor/${name}`, { method: "HEAD" }).catch(
        () => null,
      );
      if (!response?.ok) missing.push(purpose);
    }),
  );
  if (missing.length) {
    showBanner(
      `The browser libraries are not installed (run \`npm ci --omit=dev\` where the service ` +
        `runs), so these are unavailable: ${missing.sort().join("; ")}.`,
    );
  }
}

function showBanner(text) {
  $("banner").textContent = text;
  $("banner").hidden = !text;
}

/** The MIME type to declare: the browser's, or the one the policy gives the extension. */
function mimeTypeOf(file) {
  const extension = extensionOf(file.name);
  const declared = (file.type || "").split(";")[0].toLowerCase();
  if (!policy || policy.types[declared]?.includes(extension)) return declared || "application/octet-stream";
  const byExtension = Object.entries(policy.types).find(([, exts]) => exts.includes(extension));
  return byExtension ? byExtension[0] : declared || "application/octet-stream";
}

function extensionOf(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot).toLowerCase() : "";
}

/** Why the server would refuse `file`, checked against its own policy; null when fine. */
function refusal(file) {
  if (file.size <= 0) return "This file is empty.";
  if (!policy) return null;
  if (file.size > policy.maxFileSize) {
    return `This file is ${bytes(file.size)}; the limit is ${bytes(policy.maxFileSize)}.`;
  }
  const type = mimeTypeOf(file);
  const extensions = policy.types[type];
  if (!extensions || !extensions.includes(extensionOf(file.name))) {
    return `“${file.name}” is not a video this service accepts. Accepted: ${policy.extensions.join(", ")}.`;
  }
  return null;
}

// -- signing in ------------------------------------------------------------------------------

async function enter() {
  $("signin").hidden = true;
  $("upload").hidden = false;
  $("library").hidden = false;
  $("account").hidden = false;
  $("who").textContent = session.user() ? `Signed in as ${session.user()}` : "Signed in";
  try {
    await loadLibrary(true);
  } catch (error) {
    // A refused token stays in the field, so a paste with a stray character can be fixed.
    if (error instanceof ApiError && error.status === 401) return signOut(error.message, { keep: true });
    $("library-error").textContent = error.message;
  }
  live?.stop();
  live = connectLive({
    upload: ({ event, upload }) => (event === "upload.deleted" ? forget(upload.id) : upsert(upload)),
    resync: () => loadLibrary(true).catch(() => {}),
    state: setLiveState,
    unauthorized: () => signOut("Your session has ended: sign in again."),
  });
  schedulePoll();
  $("file").focus();
}

function signOut(message = "", { keep = false } = {}) {
  const refused = session.token;
  live?.stop();
  live = null;
  clearTimeout(pollTimer);
  current?.transfer?.abort?.();
  current = null;
  session.token = null;
  uploads.clear();
  signedThumbs.clear();
  $("videos").replaceChildren();
  $("transfer").hidden = true;
  $("upload").hidden = true;
  $("library").hidden = true;
  $("account").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("token").value = keep ? refused ?? "" : "";
  $("token").focus();
  if (keep) $("token").select();
}

function setLiveState(state) {
  liveState = state;
  $("live-state").textContent = {
    live: "Live updates on.",
    reconnecting: "Reconnecting… checking every few seconds meanwhile.",
    unavailable: "Checking for updates every few seconds.",
  }[state];
  if (state === "live") refreshActive(); // catch up on what happened while disconnected
  schedulePoll();
}

/** Poll unfinished uploads: often while the live stream is down, rarely as a safety net. */
function schedulePoll() {
  clearTimeout(pollTimer);
  if (!session.token) return;
  pollTimer = setTimeout(async () => {
    await refreshActive();
    schedulePoll();
  }, liveState === "live" ? 15_000 : 2_000);
}

async function refreshActive() {
  const active = [...uploads.values()].filter((u) => u.status === "uploading" || u.status === "processing");
  await Promise.all(
    active.slice(0, 10).map(async (upload) => {
      try {
        upsert(await api(`api/v1/media/status/${encodeURIComponent(upload.id)}`));
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) forget(upload.id);
      }
    }),
  );
}

// -- my videos -------------------------------------------------------------------------------

async function loadLibrary(reset) {
  $("library-error").textContent = "";
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (!reset && nextCursor) query.set("cursor", nextCursor);
  const page = await api(`api/v1/media?${query}`);
  if (reset) {
    uploads.clear();
    $("videos").replaceChildren();
  }
  for (const upload of page.items) upsert(upload, { append: true });
  nextCursor = page.nextCursor;
  $("more").hidden = !nextCursor;
  $("library-empty").hidden = uploads.size > 0;
}

function upsert(upload, { append = false } = {}) {
  // Answers can arrive out of order (a status read sent before the upload finished may land
  // after the live "failed" event): never let an older snapshot replace a newer one.
  const known = uploads.get(upload.id);
  if (known && Date.parse(known.updatedAt) > Date.parse(upload.updatedAt)) return;
  uploads.set(upload.id, upload);
  let item = $("videos").querySelector(`li[data-id="${CSS.escape(upload.id)}"]`);
  if (!item) {
    item = $("video-item").content.firstElementChild.cloneNode(true);
    item.dataset.id = upload.id;
    item.querySelector(".thumb").addEventListener("click", () => play(uploads.get(upload.id)));
    item.querySelector(".delete").addEventListener("click", () => remove(uploads.get(upload.id)));
    if (append) $("videos").append(item);
    else $("videos").prepend(item);
  }
  const title = upload.metadata?.title || upload.fileName;
  const ready = upload.status === "ready";
  item.dataset.status = upload.status;
  item.querySelector(".title").textContent = title;
  item.querySelector(".details .status").textContent = statusText(upload).split(":")[0];
  item.querySelector(".details .visibility").textContent = `· ${upload.metadata?.visibility ?? ""}`;
  item.querySelector(".reason").textContent =
    upload.status === "failed" ? upload.failureReason || upload.failureCode || "" : "";
  item.querySelector(".duration").textContent = ready && upload.duration != null ? clock(upload.duration) : "";
  const thumb = item.querySelector(".thumb");
  thumb.disabled = !ready;
  thumb.setAttribute("aria-label", ready ? `Play ${title}` : `${title}: ${statusText(upload)}`);
  item.querySelector(".delete").setAttribute("aria-label", `Delete ${title}`);
  item.querySelector(".placeholder").textContent = ready ? "" : statusText(upload).split(":")[0];
  if (ready) showThumbnail(item, upload);
  $("library-empty").hidden = true;
  if (current?.id === upload.id) showCurrentStatus(upload);
}

async function showThumbnail(item, upload) {
  const img = item.querySelector("img");
  let url = upload.thumbnailUrl;
  if (upload.metadata?.visibility === "PRIVATE") {
    url = signedThumbs.get(upload.id);
    if (!url) {
      try {
        url = (await api(`api/v1/media/${encodeURIComponent(upload.id)}/playback`)).thumbnailUrl;
        signedThumbs.set(upload.id, url);
      } catch {
        return;
      }
    }
  }
  if (!url || img.getAttribute("src") === url) return;
  img.onload = () => {
    img.hidden = false;
    item.querySelector(".placeholder").hidden = true;
  };
  img.src = url;
}

function forget(id) {
  uploads.delete(id);
  $("videos").querySelector(`li[data-id="${CSS.escape(id)}"]`)?.remove();
  $("library-empty").hidden = uploads.size > 0;
}

async function remove(upload) {
  const title = upload.metadata?.title || upload.fileName;
  if (!confirm(`Delete “${title}”? This cannot be undone.`)) return;
  try {
    await api(`api/v1/media/${encodeURIComponent(upload.id)}`, { method: "DELETE" });
    forget(upload.id);
  } catch (error) {
    $("library-error").textContent = error.message;
  }
}

// -- the player ------------------------------------------------------------------------------

async function play(upload) {
  const video = $("video");
  $("player-title").textContent = upload.metadata?.title || upload.fileName;
  $("player-error").textContent = "";
  $("player").showModal();
  try {
    const playback = await api(`api/v1/media/${encodeURIComponent(upload.id)}/playback`);
    await attach(video, playback);
    scheduleRenewal(upload, playback);
    await video.play().catch(() => {}); // autoplay may be refused: the controls are there
  } catch (error) {
    $("player-error").textContent = error.message;
  }
}

/** A signed (PRIVATE) playback URL expires: fetch a new one a little before, while playing. */
function scheduleRenewal(upload, playback) {
  clearTimeout(renewTimer);
  if (!playback.expiresAt) return;
  const left = Date.parse(playback.expiresAt) - Date.now();
  const margin = Math.min(60_000, left / 10);
  renewTimer = setTimeout(() => renew(upload), Math.max(left - margin, 1_000));
}

async function renew(upload) {
  if (!$("player").open) return;
  const video = $("video");
  try {
    const playback = await api(`api/v1/media/${encodeURIComponent(upload.id)}/playback`);
    const [at, paused] = [video.currentTime, video.paused];
    hls?.destroy();
    hls = null;
    video.addEventListener(
      "loadedmetadata",
      () => {
        video.currentTime = at;
        if (!paused) video.play().catch(() => {});
      },
      { once: true },
    );
    await attach(video, playback);
    video.dataset.renewals = String(Number(video.dataset.renewals ?? 0) + 1);
    scheduleRenewal(upload, playback);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signOut(error.message);
    $("player-error").textContent = `Renewing the signed playback URL failed: ${error.message}`;
    renewTimer = setTimeout(() => renew(upload), 15_000);
  }
}

async function attach(video, playback) {
  const isHls = /mpegurl/i.test(playback.mimeType) || /\.m3u8(\?|$)/i.test(playback.url);
  if (!isHls || video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = playback.url;
    return;
  }
  let Hls;
  try {
    ({ default: Hls } = await import("./vendor/hls.min.mjs"));
  } catch {
    throw new Error("Playing this video needs hls.js, which is not installed (npm ci --omit=dev).");
  }
  if (!Hls.isSupported()) throw new Error("This browser cannot play HLS video.");
  hls = new Hls();
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) $("player-error").textContent = `Playback failed: ${data.details}`;
  });
  hls.loadSource(playback.url);
  hls.attachMedia(video);
}

function closePlayer() {
  clearTimeout(renewTimer);
  const video = $("video");
  video.pause();
  hls?.destroy();
  hls = null;
  video.removeAttribute("src");
  video.load();
}

// -- uploading -------------------------------------------------------------------------------

function selectFile(file) {
  selected = file ?? null;
  $("upload-error").textContent = "";
  if (!file) {
    $("file-summary").textContent = "";
    return;
  }
  $("file-summary").textContent = `${file.name} · ${bytes(file.size)}`;
  const problem = refusal(file);
  if (problem) {
    $("upload-error").textContent = problem;
    return;
  }
  // Suggest a title from the file name, unless the person typed one.
  if (!$("title").value || $("title").dataset.suggested === "yes") {
    $("title").value = file.name.replace(/\.[^.]+$/, "").slice(0, policy?.maxTitleLength ?? 200);
    $("title").dataset.suggested = "yes";
  }
}

async function submitUpload(event) {
  event.preventDefault();
  const file = selected;
  if (!file) {
    $("upload-error").textContent = "Choose a video file first.";
    $("file").focus();
    return;
  }
  const problem = refusal(file);
  if (problem) {
    $("upload-error").textContent = problem;
    return;
  }
  await begin(file);
}

async function begin(file) {
  $("upload-error").textContent = "";
  $("start").disabled = true;
  const mimeType = mimeTypeOf(file);
  let created;
  try {
    created = await api("api/v1/media/upload/direct", {
      method: "POST",
      body: {
        fileName: file.name,
        fileSize: file.size,
        mimeType,
        metadata: {
          title: $("title").value,
          description: $("description").value,
          visibility: new FormData($("upload-form")).get("visibility") ?? "PRIVATE",
        },
      },
    });
  } catch (error) {
    $("start").disabled = false;
    $("upload-error").textContent = error.message;
    if (error instanceof ApiError && error.status === 401) signOut(error.message);
    return;
  }
  current = { id: created.id, file, ticket: created.upload, state: "uploading", samples: [], announced: -1 };
  $("upload-form").hidden = true;
  $("transfer").hidden = false;
  $("transfer-name").textContent = file.name;
  $("transfer-protocol").textContent = created.upload.protocol;
  $("transfer").dataset.protocol = created.upload.protocol;
  $("transfer").dataset.uploadId = created.id;
  progress(0, file.size);
  setStatus("uploading", "Uploading…");
  api(`api/v1/media/status/${encodeURIComponent(created.id)}`).then(upsert, () => {});
  await send(current);
}

async function send(entry) {
  const handlers = {
    progress: (sent, total) => entry === current && progress(sent, total),
    success: () => {
      if (entry !== current) return;
      entry.state = "sent";
      progress(entry.file.size, entry.file.size);
      setStatus("processing", "Uploaded. Waiting for processing…");
      buttons();
      refreshActive();
    },
    error: (message) => {
      if (entry !== current || entry.state === "cancelled") return;
      entry.state = "error";
      setStatus("failed", message || "The upload failed.");
      buttons();
    },
    note: (message) => entry === current && entry.state === "uploading" && setStatus("uploading", message),
  };
  try {
    entry.transfer = await startTransfer(entry.ticket, entry.file, handlers);
  } catch (error) {
    handlers.error(error.message);
  }
  buttons();
}

function progress(sent, total) {
  const percent = total ? Math.min(100, Math.floor((sent / total) * 100)) : 0;
  const now = performance.now();
  const samples = current.samples;
  samples.push([now, sent]);
  while (samples.length > 2 && now - samples[0][0] > 3000) samples.shift();
  const [t0, s0] = samples[0];
  const speed = now > t0 ? ((sent - s0) / (now - t0)) * 1000 : 0;
  $("progress").value = percent;
  $("progress-percent").textContent = `${percent} %`;
  $("progress-bytes").textContent = `${bytes(sent)} of ${bytes(total)}`;
  const done = sent >= total;
  $("progress-speed").textContent = speed > 0 && !done ? `${bytes(speed)}/s` : "";
  $("progress-eta").textContent = speed > 0 && !done ? timeLeft((total - sent) / speed) : "";
  const step = Math.floor(percent / 10);
  if (step !== current.announced) {
    current.announced = step;
    $("progress-announce").textContent = `Upload ${percent} %`;
  }
}

function setStatus(status, text) {
  $("transfer-status").dataset.status = status;
  $("transfer-status").textContent = text;
}

function showCurrentStatus(upload) {
  if (upload.status === "uploading") return; // the transfer speaks for itself meanwhile
  if (["uploading", "paused", "error"].includes(current.state)) {
    current.state = "sent"; // the provider has the bytes, whatever the client still thinks
  }
  const text = upload.status === "ready" ? "Ready: play it from My videos." : statusText(upload);
  setStatus(upload.status, text);
  buttons();
}

function buttons() {
  const state = current?.state;
  const resumable = current?.transfer?.resumable;
  $("pause").hidden = !(state === "uploading" && resumable);
  $("resume").hidden = state !== "paused";
  $("retry").hidden = state !== "error";
  $("cancel").hidden = !["uploading", "paused", "error"].includes(state);
  $("another").hidden = ["uploading", "paused"].includes(state);
}

function pause() {
  current.transfer.pause();
  current.state = "paused";
  setStatus("uploading", "Paused. Resume continues from what the server has.");
  buttons();
  $("resume").focus();
}

function resume() {
  current.state = "uploading";
  current.samples = [];
  current.transfer.resume();
  setStatus("uploading", "Uploading…");
  buttons();
  $("pause").hidden || $("pause").focus();
}

async function retry() {
  const entry = current;
  if (entry.transfer?.protocol === "tus") return resume(); // the server keeps what it has
  // A single request or chunked PUT restarts on a fresh upload slot; the old one is cancelled.
  entry.state = "cancelled";
  api(`api/v1/media/${encodeURIComponent(entry.id)}/cancel`, { method: "POST" }).then(upsert, () => {});
  await begin(entry.file);
}

async function cancel() {
  const entry = current;
  entry.state = "cancelled";
  entry.transfer?.abort();
  buttons();
  try {
    upsert(await api(`api/v1/media/${encodeURIComponent(entry.id)}/cancel`, { method: "POST" }));
  } catch (error) {
    setStatus("failed", error.message);
    return;
  }
  setStatus("failed", "Cancelled.");
  buttons();
}

function another() {
  current = null;
  selected = null;
  $("upload-form").reset();
  delete $("title").dataset.suggested;
  $("file-summary").textContent = "";
  $("upload-error").textContent = "";
  $("transfer").hidden = true;
  $("upload-form").hidden = false;
  $("start").disabled = false;
  $("file").focus();
}

// -- wiring ----------------------------------------------------------------------------------

function wire() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) {
      $("signin-error").textContent = "Paste a bearer token.";
      return;
    }
    $("signin-error").textContent = "";
    session.token = token;
    enter();
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("file").addEventListener("change", () => selectFile($("file").files[0]));
  $("title").addEventListener("input", () => delete $("title").dataset.suggested);
  const zone = $("dropzone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) selectFile(event.dataTransfer.files[0]);
  });
  $("upload-form").addEventListener("submit", submitUpload);
  $("pause").addEventListener("click", pause);
  $("resume").addEventListener("click", resume);
  $("retry").addEventListener("click", retry);
  $("cancel").addEventListener("click", cancel);
  $("another").addEventListener("click", another);
  $("refresh").addEventListener("click", () => loadLibrary(true).catch((e) => ($("library-error").textContent = e.message)));
  $("more").addEventListener("click", () => loadLibrary(false).catch((e) => ($("library-error").textContent = e.message)));
  $("player-close").addEventListener("click", () => $("player").close());
  $("player").addEventListener("close", closePlayer);
  // Back online after an error: a resumable upload picks up where the server stopped.
  window.addEventListener("online", () => {
    if (current?.state === "error" && current.transfer?.protocol === "tus") resume();
  });
}

wire();
const fromLink = session.adoptFromFragment();
loadPolicy();
checkLibraries();
if (session.token) enter();
else if (!fromLink) $("token").focus();
