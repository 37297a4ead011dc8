// The receiver the benchmark issue compares against: Express + node-postgres, signatures checked by
// Mux's own SDK (mux.webhooks.unwrap). It runs the same SQL as the service and the floor (whole row
// read; delivery recorded and whole row written under the version guard in one statement), the
// same timeouts, and remembers verified JWTs as the service does. PostgreSQL only.
//
//   node benchmarks/express/server.js --db postgresql://… --port 9000
"use strict";

const express = require("express");
const jwt = require("jsonwebtoken");
const Mux = require("@mux/mux-node");
const { Pool } = require("pg");

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, value, index, all) => {
    if (value.startsWith("--")) pairs.push([value.slice(2), all[index + 1]]);
    return pairs;
  }, []),
);
const WEBHOOK_SECRET = process.env.FLOOR_WEBHOOK_SECRET || "bench-webhook-secret";
const JWT_SECRET = process.env.FLOOR_JWT_SECRET || "bench-jwt-secret-bench-jwt-secret-0123";
const RANK = { uploading: 0, processing: 1, ready: 2, failed: 2 };
const NAMES = [
  "id", "owner_id", "provider", "provider_upload_id", "provider_asset_id", "playback_id",
  "file_name", "file_size", "mime_type", "status", "progress", "metadata", "duration",
  "thumbnail_url", "aspect_ratio", "failure_code", "failure_reason", "created_at", "updated_at",
  "upload_expires_at", "uploaded_at", "ready_at", "version",
];
const SET_NAMES = NAMES.filter((name) => name !== "id");
const N = SET_NAMES.length;
const BY_ID = `SELECT ${NAMES.join(", ")} FROM media_uploads WHERE id = $1`;
const APPLY =
  "WITH d AS (INSERT INTO webhook_deliveries (provider, delivery_id, received_at) " +
  `VALUES ($${N + 3}, $${N + 4}, $${N + 5}) ON CONFLICT DO NOTHING RETURNING 1), ` +
  `u AS (UPDATE media_uploads SET ${SET_NAMES.map((name, i) => `${name} = $${i + 1}`).join(", ")} ` +
  `WHERE id = $${N + 1} AND version = $${N + 2} AND EXISTS (SELECT 1 FROM d) RETURNING 1) ` +
  "SELECT CASE WHEN (SELECT count(*) FROM d) = 0 THEN 0 ELSE 1 / (SELECT count(*) FROM u) END AS outcome";

const pool = new Pool({
  connectionString: args.db,
  max: 10,
  statement_timeout: 30000,
  query_timeout: 35000,
  connectionTimeoutMillis: 10000,
});
const mux = new Mux({ tokenId: "unused", tokenSecret: "unused", webhookSecret: WEBHOOK_SECRET });
const verified = new Map(); // token -> [sub, exp]

function userOf(req) {
  const header = req.get("authorization") || "";
  if (!header.startsWith("Bearer ")) return null;
  const token = header.slice(7);
  const known = verified.get(token);
  if (known && Date.now() / 1000 <= known[1]) return known[0];
  try {
    const claims = jwt.verify(token, JWT_SECRET, { algorithms: ["HS256"] });
    if (verified.size >= 10000) verified.clear();
    verified.set(token, [String(claims.sub), claims.exp]);
    return String(claims.sub);
  } catch {
    return null;
  }
}

function iso(value) {
  return value == null ? null : value.toISOString();
}

function rowJson(row) {
  return {
    id: row.id, playbackId: row.playback_id, status: row.status, progress: row.progress,
    thumbnailUrl: row.thumbnail_url, duration: row.duration, aspectRatio: row.aspect_ratio,
    provider: row.provider, fileName: row.file_name, fileSize: Number(row.file_size),
    mimeType: row.mime_type, metadata: row.metadata, failureCode: row.failure_code,
    failureReason: row.failure_reason, createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at), readyAt: iso(row.ready_at),
  };
}

async function apply(event) {
  const client = await pool.connect();
  try {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const { rows } = await client.query(BY_ID, [event.uploadId]);
      const row = rows[0];
      if (!row) return "unknown_upload";
      if (RANK[row.status] === 2 || RANK[event.status] < RANK[row.status]) {
        const inserted = await client.query(
          "INSERT INTO webhook_deliveries (provider, delivery_id, received_at) " +
            "VALUES ('fake', $1, now()) ON CONFLICT DO NOTHING RETURNING 1",
          [event.eventId],
        );
        return inserted.rowCount ? "unchanged" : "duplicate";
      }
      const now = new Date();
      const next = { ...row, status: event.status, updated_at: now, version: row.version + 1 };
      next.progress = event.status === "ready" ? 100 : Math.max(row.progress, event.progress || 0);
      next.uploaded_at = row.uploaded_at || now;
      next.metadata = JSON.stringify(row.metadata);
      if (event.status === "ready") {
        next.playback_id = event.playbackId;
        next.duration = event.duration;
        next.thumbnail_url = event.thumbnailUrl || row.thumbnail_url;
        next.ready_at = now;
      }
      const values = SET_NAMES.map((name) => next[name]);
      try {
        const result = await client.query(APPLY, [
          ...values, row.id, row.version, "fake", event.eventId, now,
        ]);
        return Number(result.rows[0].outcome) === 1 ? "applied" : "duplicate";
      } catch (error) {
        if (error.code === "22012") continue; // division by zero: lost a race, read again
        throw error;
      }
    }
    return "conflict";
  } finally {
    client.release();
  }
}

const app = express();
app.disable("x-powered-by");
app.disable("etag");

app.post(
  "/api/v1/media/webhook/upload-complete",
  express.raw({ type: "application/json", limit: "1mb" }),
  async (req, res) => {
    let event;
    try {
      const headers = { "mux-signature": req.get("media-core-signature") };
      event = mux.webhooks.unwrap(req.body.toString("utf8"), headers);
    } catch {
      res.status(401).end();
      return;
    }
    try {
      const outcome = await apply(event);
      res.json({ outcome, id: event.uploadId, status: event.status });
    } catch {
      res.status(503).end();
    }
  },
);

app.get("/api/v1/media/status/:id", async (req, res) => {
  const user = userOf(req);
  if (user === null) {
    res.status(401).end();
    return;
  }
  try {
    const { rows } = await pool.query(BY_ID, [req.params.id]);
    if (!rows[0] || rows[0].owner_id !== user) {
      res.status(404).end();
      return;
    }
    res.json(rowJson(rows[0]));
  } catch {
    res.status(503).end();
  }
});

const server = app.listen(Number(args.port), "127.0.0.1");
process.on("SIGINT", () => {
  server.close(() => pool.end().then(() => process.exit(0)));
  setTimeout(() => process.exit(0), 2000).unref();
});
