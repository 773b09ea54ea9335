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

pushed_what := sprintf("tracking_event %v", [rec(["event", "type"])]) if {
	input.record.kind == "tracking_event"
} else := sprintf("%v", [rec(["kind"])])

deny contains reason("push_not_authorised", msg) if {
	input.action == "push"
	registered
	not push_authority_covers
	msg := sprintf("%v (%v) is not the authority for %s records", [who("member"), who("kind"), pushed_what])
}

# An institution pushes under its own name only.
originator_is_caller if input.record.label.originator == input.caller.member

deny contains reason("originator_mismatch", msg) if {
	input.action == "push"
	registered
	not originator_is_caller
	msg := sprintf("the label names %v as originator, but the caller is %v", [rec(["label", "originator"]), who("member")])
}

# Record ids. Every originator owns a namespace of ids: the prefixes listed
# for it in data.ura_data.id_namespaces, else its member ID with "/" as "-"
# and a trailing "-" (IT/GOV/MOD pushes IT-GOV-MOD-…). A push may use only
# ids in its originator's namespace, so no member can take an id that
# another institution will use (squatting), and a push naming another
# institution's record is refused before anything about that record is
# looked at. The refusal is the decision's only reason (decision.rego).
id_prefixes(member) := data.ura_data.id_namespaces[member]

id_prefixes(member) := [concat("", [replace(member, "/", "-"), "-"])] if {
	is_string(member)
	not data.ura_data.id_namespaces[member]
}

id_in_namespace if {
	some p in id_prefixes(input.record.label.originator)
	startswith(input.record.id, p)
}

id_outside_namespace := reason("id_outside_namespace", msg) if {
	msg := sprintf("record ids of %v must begin with %v; this id is not in that namespace", [rec(["label", "originator"]), namespace_text])
}

# Never undefined, so that the refusal it explains always happens.
namespace_text := concat(" or ", id_prefixes(input.record.label.originator)) if {
	is_string(input.record.label.originator)
} else := "(no namespace)"

previous_owned_by_caller if input.previous.label.originator == input.caller.member

deny contains reason("not_record_owner", msg) if {
	input.action == "push"
	registered
	has_previous
	not previous_owned_by_caller
	msg := sprintf("only the originator of %v may push a new version of it", [rec(["id"])])
}

# No silent downgrade: a new version keeps at least the classification and
# at most the releasability of the version it replaces, unless the
# originator of that version changes it.
classification_kept if rank(input.record.label.classification) >= rank(input.previous.label.classification)

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
	not previous_owned_by_caller
	# Nothing of the stored version is quoted: the caller does not own it.
	msg := sprintf("version %v of %v would lower the classification or widen the releasability of the stored version; only its originator may", [
		rec(["version"]), rec(["id"]),
	])
}
