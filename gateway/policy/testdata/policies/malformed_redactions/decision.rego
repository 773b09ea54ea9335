package ura

# A redaction without the rule that removed it would leave the recipient
# unable to tell why the field is missing.
decision := {"allow": true, "redact": ["/licence/contract_value"], "redactions": [{"pointer": "/licence/contract_value"}], "reasons": []}
