package ura

# A pointer without its leading slash would redact nothing.
decision := {"allow": true, "redact": ["licence/contract_value"], "reasons": []}
