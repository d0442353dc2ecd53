"""Storage as a service: pieces on storage nodes, placed, audited, repaired and paid.

```
object ──segments──▶ erasure (k of n, zfec) ──pieces──▶ storage nodes (node/)
   placer: orders + placement records (orders)           │ hold pieces, serve against orders,
   metadata (SQL), upload/download (placer, client)      │ file placements and audit proofs
   repair (repair): rebuild from any k                   ▼
                                             oracles: proofs.storage (audits, reputation, rewards)
```

`merkle` is the piece commitment every party agrees on; `orders` the signed permissions and
placement records; `erasure` the coding. The proof kind itself (what the oracles verify and
pay) is `opendepin.proofs.storage`; docs/storage.md tells the whole story.
"""
