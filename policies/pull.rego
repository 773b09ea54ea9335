package ura

pull_granted if {
	input.action == "pull"
	registered
	pull_kind_permitted
}

pull_kind_permitted if input.record.kind in data.ura_data.pull_kinds[input.caller.kind]

deny contains reason("pull_not_permitted", msg) if {
	input.action == "pull"
	registered
	not pull_kind_permitted
	msg := sprintf("a %v member does not receive %v records", [who("kind"), rec(["kind"])])
}

# Clearance dominates classification, both as NATO levels (a national
# marking through marking_map, label.rego). A classification the table does
# not know has no rank, so nothing dominates it. The ranks are looked up
# here rather than through rank(): two function calls per record cost more
# than the lookups.
clearance_dominates if data.ura_data.classifications[input.caller.clearance] >= data.ura_data.classifications[record_nato_level]

deny contains reason("clearance_insufficient", msg) if {
	input.action == "pull"
	registered
	not clearance_dominates
	msg := sprintf("%v is %v; %v is cleared to %v", [rec(["id"]), rec(["label", "classification"]), who("member"), who("clearance")])
}

# Restrictive categories (STANAG 4774: all must match). A record whose
# label carries a restrictive category is released only to a member granted
# every value of it (input.caller.categories, from the member registry: a
# member is granted none unless configured). No other rule, and no
# two-person release, lifts this one.
category_not_held contains [cat.name, v] if {
	some cat in input.record.label.categories
	cat.type == "restrictive"
	some v in cat.values
	not v in object.get(input.caller, ["categories", cat.name], [])
}

deny contains reason("category_not_held", msg) if {
	input.action == "pull"
	registered
	count(category_not_held) > 0
	msg := sprintf("%v carries restrictive categories %v is not granted", [rec(["id"]), who("member")])
}

# Releasable To: the caller's nation (NATO for the liaison office), or a
# group listed in data.ura_data.groups whose members include it (NATO: the
# member nations and NATO bodies; EU: the member states and EU bodies). The
# gateway's Go code answers the same question from the same table
# (policy.Releasable), for what it forwards.
releasable if input.caller.nation in input.record.label.releasable_to

releasable if {
	some group in input.record.label.releasable_to
	input.caller.nation in data.ura_data.groups[group].members
}

# The same test for any nation, where the policy asks about someone other
# than the caller.
releasable_to(label, nation) if nation in label.releasable_to

releasable_to(label, nation) if {
	some group in label.releasable_to
	nation in data.ura_data.groups[group].members
}

deny contains reason("not_releasable", msg) if {
	input.action == "pull"
	registered
	not releasable
	msg := sprintf("%v is releasable to %v, not to %v", [rec(["id"]), rec(["label", "releasable_to"]), who("nation")])
}

# A partner sees the movements that concern its own nation, nothing of
# Albania's internal register traffic; of trace requests, its own and those
# about items marked in its nation. Trace responses are addressed, below.
# A peer gateway is sent what a partner of its nation would see, for the
# institutions of its instance: it receives (outbound, a pull by the peer's
# member) only what they could pull here, and their own trace requests and
# answers.
event_involves_caller if input.record.event.from == input.caller.nation

event_involves_caller if input.record.event.to == input.caller.nation

event_involves_caller if {
	input.record.event.type == "TRACE_REQUEST"
	input.record.label.originator == input.caller.member
}

event_involves_caller if {
	input.record.event.type == "TRACE_REQUEST"
	input.record.event.item.marking.country == input.caller.nation
}

event_involves_caller if {
	input.caller.kind == "gateway"
	input.record.event.type == "TRACE_REQUEST"
	instance_of(input.record.label.originator) == instance_of(input.caller.member)
}

trace_response if input.record.event.type == "TRACE_RESPONSE"

deny contains reason("outside_partner_scope", msg) if {
	input.action == "pull"
	registered
	input.caller.kind in {"partner", "gateway"}
	input.record.kind == "tracking_event"
	not trace_response
	not event_involves_caller
	msg := sprintf("%v moves goods from %v to %v; a partner sees only events from or to %v", [rec(["id"]), rec(["event", "from"]), rec(["event", "to"]), who("nation")])
}

# A trace response answers one member's trace request and names it
# (event.trace.requester): among foreign members, partners and liaison
# offices, only that one receives it, whatever else its label allows. The
# label still applies: the answering agency releases it to the requester's
# nation. The message names no requester.
deny contains reason("trace_response_not_addressed", msg) if {
	input.action == "pull"
	registered
	input.caller.kind in {"partner", "liaison", "gateway"}
	input.record.kind == "tracking_event"
	trace_response
	not addressed_to_caller
	msg := sprintf("%v answers another member's trace request", [rec(["id"])])
}

addressed_to_caller if input.record.event.trace.requester == input.caller.member

# A peer gateway carries the answer to the institution of its instance that
# asked.
addressed_to_caller if {
	input.caller.kind == "gateway"
	instance_of(input.record.event.trace.requester) == instance_of(input.caller.member)
}

# Fields a kind of member never receives are removed, not the whole record:
# customs needs a licence's validity, holder and items, never its contract
# value or anyone's personal contact details. A field is removed when the
# record has a non-null value at its JSON pointer; that test is written out
# here, not a function, because it runs for every pointer of every record.
redact contains pointer if {
	input.action == "pull"
	registered
	some pointer in data.ura_data.redactions[input.caller.kind][input.record.kind]
	object.get(input.record, split(trim_prefix(pointer, "/"), "/"), null) != null
}
