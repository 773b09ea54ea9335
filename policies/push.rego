package ura

push_granted if {
	input.action == "push"
	registered
	push_authority_covers
}

push_authority_covers if {
	data.ura_data.push_authority[input.caller.kind][input.record.kind] == true
}

push_authority_covers if {
	input.record.kind == "tracking_event"
	types := data.ura_data.push_authority[input.caller.kind].tracking_event
	is_array(types)
	input.record.event.type in types
}

# A peer gateway has no push authority of its own: it relays what
# data.ura_data.relay_kinds lists (relay.rego).
push_authority_covers if {
	input.caller.kind == "gateway"
	relay_kind_permitted
}

pushed_what := sprintf("tracking_event %v", [rec(["event", "type"])]) if {
	input.record.kind == "tracking_event"
} else := sprintf("%v", [rec(["kind"])])

deny contains reason("push_not_authorised", msg) if {
	input.action == "push"
	registered
	not push_authority_covers
	not relaying
	msg := sprintf("%v (%v) is not the authority for %s records", [who("member"), who("kind"), pushed_what])
}

# An institution pushes under its own name only; a peer gateway relays in
# the names of its own instance's institutions (relay.rego).
originator_is_caller if input.record.label.originator == input.caller.member

deny contains reason("originator_mismatch", msg) if {
	input.action == "push"
	registered
	not originator_is_caller
	not relaying
	msg := sprintf("the label names %v as originator, but the caller is %v", [rec(["label", "originator"]), who("member")])
}

# Record ids. Every originator owns a namespace of ids: the prefixes listed
# for it in data.ura_data.id_namespaces, else its member ID with "/" as "-"
# and a trailing "-" (IT/GOV/MOD pushes IT-GOV-MOD-…, here or relayed by
# its gateway). A push may use only ids in its originator's namespace, so no
# member can take an id that another institution will use (squatting), and
# a push naming another institution's record is refused before anything
# about that record is looked at. The refusal is the decision's only reason
# (decision.rego). A default namespace that falls inside a listed one (an
# instance named AIM would make AIM-GOV-X-) is no namespace at all.
#
# One rule with an else chain: the listed prefixes when there are any, and
# only then the default, so that a listed member's id is checked without
# asking the other branches (the tables list prefixes as arrays, never
# false, so "not listed" is exactly "the first branch gave nothing").
id_prefixes(member) := prefixes if {
	prefixes := data.ura_data.id_namespaces[member]
} else := [p] if {
	is_string(member)
	p := concat("", [replace(member, "/", "-"), "-"])
	not inside_listed_namespace(p)
} else := [] if {
	is_string(member)
}

inside_listed_namespace(prefix) if {
	some listed in data.ura_data.id_namespaces
	some p in listed
	startswith(prefix, p)
}

id_in_namespace if {
	some p in id_prefixes(input.record.label.originator)
	startswith(input.record.id, p)
}

id_outside_namespace := reason("id_outside_namespace", msg) if {
	msg := sprintf("record ids of %v must begin with %v; this id is not in that namespace", [rec(["label", "originator"]), namespace_text])
}

# Never undefined, so that the refusal it explains always happens.
namespace_text := concat(" or ", prefixes) if {
	prefixes := id_prefixes(input.record.label.originator)
	count(prefixes) > 0
} else := "(no namespace)"

previous_owned_by_caller if input.previous.label.originator == input.caller.member

# A new version comes from the stored version's originator: pushed by it,
# or relayed in its name by its peer gateway.
previous_owned_by_pusher if {
	not relaying
	previous_owned_by_caller
}

previous_owned_by_pusher if {
	input.caller.kind == "gateway"
	input.previous.label.originator == input.record.label.originator
}

deny contains reason("not_record_owner", msg) if {
	input.action == "push"
	registered
	has_previous
	not previous_owned_by_pusher
	msg := sprintf("only the originator of %v may push a new version of it", [rec(["id"])])
}

# No silent downgrade: a new version keeps at least the classification and
# at most the releasability of the version it replaces, unless the
# originator of that version changes it, pushing in its own name. A relayed
# version never does: the peer gateway vouches for whose record it carries,
# not for a change of the label this gateway holds, so a relay that would
# lower or widen the stored label is refused and the stricter one stays.
label_owner_pushes if {
	not relaying
	previous_owned_by_caller
}

# Compared as NATO levels, so that a version re-marked under another policy
# (KONFIDENCIAL for CONFIDENTIAL) is no downgrade, and one whose marking
# has no NATO level keeps nothing.
classification_kept if rank(record_nato_level) >= rank(nato_level(input.previous.label))

widened contains nation if {
	some nation in input.record.label.releasable_to
	not previously_releasable(nation)
}

previously_releasable(nation) if nation in input.previous.label.releasable_to

label_downgraded if not classification_kept

label_downgraded if count(widened) > 0

deny contains reason("label_downgrade", msg) if {
	input.action == "push"
	registered
	has_previous
	label_downgraded
	not label_owner_pushes

	# Nothing of the stored version is quoted: the caller does not own it.
	msg := sprintf("version %v of %v would lower the classification or widen the releasability of the stored version; only its originator may", [
		rec(["version"]), rec(["id"]),
	])
}

# A trace request from outside this gateway's instance (a partner, a liaison
# office, or relayed by a peer gateway) asks this nation's institutions; one
# they may not read would go unanswered without anyone being told, so it is
# refused unless its label releases it to data.ura_data.own_nation.
deny contains reason("trace_request_not_releasable", msg) if {
	input.action == "push"
	registered
	input.record.kind == "tracking_event"
	input.record.event.type == "TRACE_REQUEST"
	not originator_in_own_instance
	not releasable_to(input.record.label, data.ura_data.own_nation)
	msg := sprintf("trace request %v is not releasable to %v, whose institutions answer it", [rec(["id"]), data.ura_data.own_nation])
}
