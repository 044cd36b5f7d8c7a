"""`flowport migrate`: copy experiments, runs and their artifacts from one backend to another,
resumably, incrementally and verifiably, through the Backend contract only (never a store's SQL)."""
