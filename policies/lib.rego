package ura

reason(code, message) := {"code": code, "message": message}

# Messages quote the record through these: a message must never be
# undefined because the field it quotes is missing, or the refusal it
# explains would silently not happen.
rec(path) := object.get(input.record, path, "(missing)")

prev(path) := object.get(input, array.concat(["previous"], path), "(missing)")

who(field) := object.get(input, ["caller", field], "(missing)")

# The gateway sets input.caller only for a member in its registry.
registered if {
	is_object(input.caller)
	is_string(input.caller.member)
	input.caller.member != ""
}

has_previous if is_object(input.previous)

rank(classification) := data.ura_data.classifications[classification]

# Names are compared case-, punctuation- and spacing-insensitively, the way
# the gateway indexes the register of excluded entities ("KAYO sh.a." and
# "Kayo Sh A" are one name).
normalise(name) := trim_space(regex.replace(lower(name), `[^\p{L}\p{N}]+`, " "))

# 24 * 60 * 60 * 1e9, written out: a rule's value is computed anew for every
# record, the arithmetic included.
ns_per_day := 86400000000000

# A date (YYYY-MM-DD) as the first and the last nanosecond it covers, UTC.
day_start(date) := time.parse_ns("2006-01-02", date)

# ns_per_day - 1, written out: one addition on the parsed date rather than
# a lookup of ns_per_day and two (integers are exact, so the sum is the
# same). lib_test.rego checks the two agree.
day_end(date) := time.parse_ns("2006-01-02", date) + 86399999999999

# The time of the decision: input.now (RFC 3339), which the gateway sets on
# every question, so that a decision can be asked again with the time it
# was made at and answer the same; OPA's clock (time.now_ns, fixed per
# evaluation) for a question that names none.
now_ns := time.parse_rfc3339_ns(input.now) if is_string(input.now)

else := time.now_ns()
