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

previous_owned_by_caller if input.previous.label.originator == input.caller.member

deny contains reason("not_record_owner", msg) if {
	input.action == "push"
	registered
	has_previous
	not previous_owned_by_caller
	msg := sprintf("%v was originated by %v; only its originator may push a new version", [rec(["id"]), prev(["label", "originator"])])
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
	msg := sprintf("version %v of %v would lower the classification from %v to %v or release it to %v; only the originator %v may", [
		rec(["version"]), rec(["id"]),
		prev(["label", "classification"]), rec(["label", "classification"]),
		sort(widened), prev(["label", "originator"]),
	])
}
