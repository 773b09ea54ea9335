# Vault policy "ura": what a running gateway needs and nothing more.
# Key management (create, rotate, trim, export, delete) stays with operators; a
# compromised gateway can sign with the current keys but cannot extract,
# replace or destroy them.

# Sign records and push results. The glob covers each key's optional
# /<hash_algorithm> suffix and the P-256 variant (ura-signing-p256).
path "transit/sign/ura-signing*" {
  capabilities = ["update"]
}

# Public keys and version metadata, to publish every key version still in use
# in /.well-known/jwks.json.
path "transit/keys/ura-signing*" {
  capabilities = ["read"]
}

# Key material and settings loaded from KV v2 (the KV signing mode).
path "kv/data/ura/*" {
  capabilities = ["read"]
}

path "kv/metadata/ura/*" {
  capabilities = ["read"]
}

# Keep its own token alive and learn its TTL; no other token operations.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
