"""HTTP pieces shared by every opendepin API (ingest, oracle): see `problems`."""
