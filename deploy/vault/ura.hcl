# Vault policy "ura": what a running gateway needs and nothing more.
# Key management (create, rotate, trim, export, delete) stays with operators; a
# compromised gateway can sign with the current keys but cannot extract,
# replace or destroy them.
#
# Attach it to whatever the gateway logs in with (vault.auth.method); login
# paths need no policy. For example:
#   vault policy write ura deploy/vault/ura.hcl
#   vault write auth/approle/role/ura token_policies=ura token_ttl=1h \
#       token_max_ttl=24h secret_id_ttl=720h
#   vault write auth/kubernetes/role/ura token_policies=ura token_ttl=1h \
#       bound_service_account_names=ura bound_service_account_namespaces=ura
# The key names below match sign.key's default (ura-signing, and
# ura-signing-p256 for ES256); adjust them with a different sign.key or
# sign.kv_path.

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

# The latest audit checkpoint, kept off the host (audit.checkpoint.vault_kv;
# ura-audit/checkpoints/<log> by convention). The gateway writes every
# checkpoint as a new version with check-and-set and reads it back at
# start-up. No delete, destroy or metadata writes: a compromised gateway
# cannot remove the evidence of a rollback (an operator resets an entry by
# deleting its metadata, after investigating).
path "kv/data/ura-audit/*" {
  capabilities = ["create", "update", "read"]
}

path "kv/metadata/ura-audit/*" {
  capabilities = ["read"]
}

# Keep its own token alive and learn its TTL; no other token operations.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
