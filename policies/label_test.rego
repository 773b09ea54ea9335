package ura_test

# Labels in a national policy, translated on the way out (label.rego).

marked(record, policy, classification) := json.patch(record, [
	{"op": "add", "path": "/label/policy_id", "value": policy},
	{"op": "replace", "path": "/label/classification", "value": classification},
])

al_licence := marked(licence, "AL", "KONFIDENCIAL")

hrv := partner_of("HRV", "HR/GOV/MOD")

usa := partner_of("USA", "US/GOV/DOD")

test_national_label_read_as_nato_for_clearance if {
	# KONFIDENCIAL is NATO CONFIDENTIAL: customs, cleared to RESTRICTED, is
	# not cleared for it; the agency is.
	denied_with(decide(dpd, "pull", al_licence), "clearance_insufficient")
	allowed(decide(aim, "pull", al_licence))
	allowed(decide(dpd, "pull", marked(licence, "AL", "I KUFIZUAR")))
}

test_own_institutions_get_no_translation if {
	d := decide(aim, "pull", al_licence)
	not d.translations
}

test_nato_label_never_translated if {
	d := decide(ita, "pull", licence)
	d.allow
	not d.translations
	e := decide(ita, "pull", marked(licence, "NATO", "RESTRICTED"))
	e.allow
	not e.translations
}

test_partner_gets_its_own_policy if {
	d := decide(ita, "pull", json.patch(al_licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]}]))
	d.allow
	d.translations == [
		{
			"from": {"policy_id": "AL", "classification": "KONFIDENCIAL"},
			"to": {"policy_id": "NATO", "classification": "CONFIDENTIAL"},
			"rule": "marking_map.policies.AL",
		},
		{
			"from": {"policy_id": "NATO", "classification": "CONFIDENTIAL"},
			"to": {"policy_id": "IT", "classification": "RISERVATISSIMO"},
			"rule": "marking_map.policies.IT",
		},
	]
}

test_liaison_and_nation_without_policy_get_nato if {
	d := decide(nato, "pull", al_licence)
	d.allow
	d.translations == [{
		"from": {"policy_id": "AL", "classification": "KONFIDENCIAL"},
		"to": {"policy_id": "NATO", "classification": "CONFIDENTIAL"},
		"rule": "marking_map.policies.AL",
	}]
	e := decide(usa, "pull", al_licence)
	e.allow
	e.translations == d.translations
}

test_partner_record_translated_for_own_institutions if {
	it := marked(with_originator(licence, "IT/GOV/MOD"), "IT", "SEGRETO")
	d := decide(aim, "pull", it)
	d.allow
	[s.to | some s in d.translations] == [
		{"policy_id": "NATO", "classification": "SECRET"},
		{"policy_id": "AL", "classification": "SEKRET"},
	]
}

test_translation_only_on_pull if {
	d := decide(aim, "push", al_licence)
	d.allow
	not d.translations
}

test_unmapped_level_fails_closed if {
	odd := marked(licence, "AL", "SHUMË SEKRET")
	p := decide(aim, "push", odd)
	denied_with(p, "marking_unmapped")
	some r in p.reasons
	r.code == "marking_unmapped"
	contains(r.message, "SHUMË SEKRET")
	contains(r.message, "policy AL")
	denied_with(decide(aim, "pull", odd), "marking_unmapped")
	denied_with(decide(ita, "pull", odd), "marking_unmapped")
}

test_unknown_policy_fails_closed if {
	odd := marked(licence, "FR", "SECRET DEFENSE")
	denied_with(decide(aim, "push", odd), "marking_unmapped")
	denied_with(decide(nato, "pull", odd), "marking_unmapped")
}

test_recipient_policy_without_the_level_fails_closed if {
	d := data.ura.decision with input as {"caller": hrv, "action": "pull", "record": al_licence, "previous": null}
		with data.ura_data.marking_map.policies.HR.to_nato as {"OGRANIČENO": "RESTRICTED"}
	denied_with(d, "marking_unmapped")
	some r in d.reasons
	r.code == "marking_unmapped"
	contains(r.message, "policy HR")
	contains(r.message, "CONFIDENTIAL")
}

test_above_secret_not_handled if {
	ts := marked(licence, "AL", "TEPËR SEKRET")
	d := decide(aim, "push", ts)
	denied_with(d, "classification_not_handled")
	some r in d.reasons
	contains(r.message, "COSMIC TOP SECRET")
	denied_with(decide(aim, "pull", ts), "clearance_insufficient")
}

test_remarking_is_no_downgrade if {
	prev := json.patch(licence, [{"op": "replace", "path": "/label/classification", "value": "CONFIDENTIAL"}])
	relayed := with_originator(licence, "IT/GOV/MOD")
	it_prev := json.patch(relayed, [{"op": "replace", "path": "/label/classification", "value": "CONFIDENTIAL"}])
	allowed(decide_prev(itgw, marked(relayed, "IT", "RISERVATISSIMO"), it_prev))
	denied_with(decide_prev(itgw, marked(relayed, "IT", "RISERVATO"), it_prev), "label_downgrade")
	allowed(decide_prev(aim, al_licence, prev))
}

# Review dates.

reviewed(record, date) := json.patch(record, [{"op": "add", "path": "/label/review", "value": date}])

decide_at(caller, record, at) := d if {
	d := data.ura.decision with input as {"caller": caller, "action": "pull", "record": record, "previous": null, "now": at}
}

test_overdue_withheld_from_foreign_members if {
	overdue := reviewed(licence, "2026-06-01")
	every caller in [ita, nato, itgw] {
		d := decide_at(caller, overdue, "2026-06-02T08:00:00Z")
		d.allow == false
		codes(d) == {"review_overdue"}
	}
}

test_overdue_still_released_to_own_institutions if {
	overdue := reviewed(licence, "2026-06-01")
	allowed(decide_at(aim, overdue, "2026-06-02T08:00:00Z"))
	allowed(decide_at(dpd, overdue, "2026-06-02T08:00:00Z"))
}

test_review_day_itself_not_overdue if {
	due := reviewed(licence, "2026-06-02")
	decide_at(ita, due, "2026-06-02T23:59:59Z").allow
	denied_with(decide_at(ita, due, "2026-06-03T00:00:00Z"), "review_overdue")
}

test_reviewed_version_released_again if {
	denied_with(decide_at(ita, reviewed(licence, "2026-05-20"), "2026-06-02T08:00:00Z"), "review_overdue")
	newer := json.patch(reviewed(licence, "2027-05-20"), [{"op": "replace", "path": "/version", "value": 4}])
	decide_at(ita, newer, "2026-06-02T08:00:00Z").allow
}

test_review_without_input_now_uses_the_clock if {
	overdue := reviewed(licence, "2026-06-01")
	denied_with(decide(ita, "pull", overdue), "review_overdue")
	decide(ita, "pull", reviewed(licence, "2026-07-01")).allow
}

test_input_now_is_the_decisions_time if {
	# input.now wins over OPA's clock, for the licence rules too.
	denied_with(decide_at(ita, reviewed(licence, "2026-06-01"), "2026-06-02T08:00:00Z"), "review_overdue")
	d := data.ura.decision with input as {"caller": ita, "action": "pull", "record": reviewed(licence, "2026-06-01"), "previous": null, "now": "2026-05-31T08:00:00Z"}
		with time.now_ns as now
	d.allow
}

test_review_not_checked_on_push if allowed(decide(aim, "push", reviewed(licence, "2026-05-02")))
