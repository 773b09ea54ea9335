package ura_test

test_registered_member_push_allowed if {
	d := decide(aim, "push", licence)
	allowed(d)
	d.redact == []
}

test_unregistered_caller_denied if {
	d := data.ura.decision with input as {"action": "pull", "record": licence, "previous": null}
		with input.registers as registers
	denied_with(d, "unregistered_member")
	count(d.reasons) == 1
}

test_caller_without_member_id_denied if {
	d := decide({"nation": "ALB", "kind": "agency", "clearance": "SECRET"}, "pull", licence)
	denied_with(d, "unregistered_member")
}

test_known_actions_decided if {
	allowed(decide(aim, "pull", licence))
	allowed(decide(aim, "push", licence))
}

test_unknown_action_denied if {
	d := decide(aim, "delete", licence)
	denied_with(d, "unknown_action")
}

test_missing_action_denied if {
	d := data.ura.decision with input as {"caller": aim, "record": licence}
		with input.registers as registers
	denied_with(d, "unknown_action")
}

test_decision_always_has_the_three_members if {
	d := decide(ita, "pull", licence)
	is_boolean(d.allow)
	is_array(d.redact)
	is_array(d.redactions)
	is_array(d.reasons)
	every r in d.reasons {
		is_string(r.code)
		is_string(r.message)
	}
}

test_denial_gives_no_redactions if {
	d := decide(dpd, "pull", json.patch(licence, [{"op": "replace", "path": "/label/classification", "value": "SECRET"}]))
	d.allow == false
	d.redact == []
	d.redactions == []
}

test_unregistered_gives_no_redactions if {
	d := data.ura.decision with input as {"action": "pull", "record": licence, "previous": null}
	d.redactions == []
}

test_default_decision_gives_no_redactions if {
	d := decide(aim, "pull", licence) with data.ura.granted as false
	d.allow == false
	d.redactions == []
}

test_not_granted_without_other_reason if {
	d := decide(aim, "push", licence) with data.ura.push_granted as false
	denied_with(d, "not_granted")
}

# Should a grant fail with no rule saying why, the record is still refused.
test_refused_when_nothing_granted_and_nothing_said if {
	d := decide(aim, "push", licence) with data.ura.push_granted as false
		with data.ura.grant_refusal_explained as true
	d.allow == false
	d.redact == []
	d.redactions == []
}
