"""Video provider adapters: Mux, Cloudflare Stream and the fake, over one HTTP call policy."""
