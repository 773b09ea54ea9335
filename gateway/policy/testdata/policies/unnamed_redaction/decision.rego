package ura

# A removed field that no redaction names: the signed delivery would not say
# why it is missing.
decision := {"allow": true, "redact": ["/licence/contract_value"], "reasons": []}
