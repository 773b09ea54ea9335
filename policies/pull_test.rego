package ura_test

# Clearance dominates classification.

test_clearance_dominates_allowed if allowed(decide(dpd, "pull", licence))

test_clearance_below_classification_denied if {
	confidential := json.patch(licence, [{"op": "replace", "path": "/label/classification", "value": "CONFIDENTIAL"}])
	denied_with(decide(dpd, "pull", confidential), "clearance_insufficient")
	allowed(decide(aim, "pull", confidential))
}

test_missing_label_fields_denied if {
	no_class := json.remove(licence, ["label/classification"])
	denied_with(decide(aim, "pull", no_class), "clearance_insufficient")
	no_rel := json.remove(licence, ["label/releasable_to"])
	denied_with(decide(aim, "pull", no_rel), "not_releasable")
	no_label := json.remove(licence, ["label"])
	d := decide(aim, "pull", no_label)
	denied_with(d, "clearance_insufficient")
	denied_with(d, "not_releasable")
}

test_partner_event_without_route_denied if {
	d := decide(ita, "pull", json.remove(to_ita, ["event/to", "event/from"]))
	denied_with(d, "outside_partner_scope")
}

test_unknown_classification_denied if {
	odd := json.patch(licence, [{"op": "replace", "path": "/label/classification", "value": "TOP SECRET"}])
	denied_with(decide(aim, "pull", odd), "clearance_insufficient")
}

# Restrictive categories: every value of each must be granted.

crypto_licence := json.patch(licence, [{"op": "add", "path": "/label/categories", "value": [
	{"type": "informative", "name": "Programme", "values": ["ALTAY"]},
	{"type": "restrictive", "name": "Special Access", "values": ["CRYPTO", "ATOMAL"]},
]}])

test_restrictive_category_withheld_without_grant if {
	denied_with(decide(aim, "pull", crypto_licence), "category_not_held")
	denied_with(decide(mod, "pull", crypto_licence), "category_not_held")
}

test_restrictive_category_withheld_with_some_values if {
	some_of := object.union(aim, {"categories": {"Special Access": ["CRYPTO"]}})
	denied_with(decide(some_of, "pull", crypto_licence), "category_not_held")
	other_name := object.union(aim, {"categories": {"Special": ["CRYPTO", "ATOMAL"]}})
	denied_with(decide(other_name, "pull", crypto_licence), "category_not_held")
}

test_restrictive_category_released_with_every_value if {
	granted := object.union(aim, {"categories": {"Special Access": ["ATOMAL", "CRYPTO", "BOHEMIA"]}})
	allowed(decide(granted, "pull", crypto_licence))
}

test_informative_and_permissive_categories_need_no_grant if {
	info := json.patch(licence, [{"op": "add", "path": "/label/categories", "value": [
		{"type": "informative", "name": "Programme", "values": ["ALTAY"]},
		{"type": "permissive", "name": "Releasable To", "values": ["ALB", "NATO"]},
	]}])
	allowed(decide(aim, "pull", info))
}

# Releasable To.

test_albanian_institutions_see_alb_releasable if {
	allowed(decide(aim, "pull", licence))
	allowed(decide(mod, "pull", licence))
}

test_not_releasable_to_caller_denied if {
	alb_cze := json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "CZE"]}])
	denied_with(decide(ita, "pull", alb_cze), "not_releasable")
	only_ita := json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ITA"]}])
	denied_with(decide(aim, "pull", only_ita), "not_releasable")
}

# REL ALB, NATO: Italy is a NATO member, so its ministry sees the licence.
test_italy_sees_rel_alb_nato if {
	d := decide(ita, "pull", licence)
	d.allow
	d.redact == ["/licence/end_user/contact"]
	codes(d) == {"redacted"}
}

test_liaison_sees_nato_releasable if {
	d := decide(nato, "pull", licence)
	d.allow
}

test_liaison_denied_without_nato if {
	alb_only := json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB"]}])
	denied_with(decide(nato, "pull", alb_only), "not_releasable")
}

test_eu_group_releases_to_member_states if {
	eu := json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["EU"]}])
	decide(ita, "pull", eu).allow
	denied_with(decide(aim, "pull", eu), "not_releasable")
	denied_with(decide(nato, "pull", eu), "not_releasable")
}

# Partners see only events from or to their nation.

to_ita := json.patch(export_event, [
	{"op": "replace", "path": "/event/to", "value": "ITA"},
	{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]},
])

test_partner_sees_events_involving_it if allowed(decide(ita, "pull", to_ita))

test_partner_denied_other_nations_events if {
	about_cze := json.patch(export_event, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "CZE", "ITA"]}])
	d := decide(ita, "pull", about_cze)
	denied_with(d, "outside_partner_scope")
	count(d.reasons) == 1
}

test_partner_sees_licence_released_to_it if {
	released := json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]}])
	decide(ita, "pull", released).allow
}

# What each kind of member receives at all.

test_partner_denied_registers if {
	entity := {"kind": "entity", "id": "AIM-ENT-1", "version": 1, "label": label("UNCLASSIFIED", ["ALB", "ITA"], "AL/GOV/AIM"), "entity": {"entity_id": "L61234567A", "name": "KAYO sh.a."}}
	denied_with(decide(ita, "pull", entity), "pull_not_permitted")
	allowed(decide(dpd, "pull", entity))
}

test_auditor_pulls_no_records if {
	denied_with(decide(auditor, "pull", licence), "pull_not_permitted")
}

# Redaction: removed fields, the record still delivered.

test_customs_licence_redacted if {
	d := decide(dpd, "pull", licence)
	d.allow
	d.redact == ["/licence/contract_value", "/licence/end_user/contact"]
	codes(d) == {"redacted"}
}

# Each removed field names the table entry that removed it, sorted by
# pointer as `redact` is.
test_customs_licence_redactions_name_their_rule if {
	d := decide(dpd, "pull", licence)
	d.redactions == [
		{"pointer": "/licence/contract_value", "rule": "redactions.customs.licence"},
		{"pointer": "/licence/end_user/contact", "rule": "redactions.customs.licence"},
	]
}

test_redactions_repeat_redact if {
	every d in [decide(dpd, "pull", licence), decide(ita, "pull", licence), decide(aim, "pull", licence), decide(itgw, "pull", licence)] {
		[r.pointer | some r in d.redactions] == d.redact
	}
}

test_partner_redactions_name_their_rule if {
	decide(ita, "pull", licence).redactions == [{"pointer": "/licence/end_user/contact", "rule": "redactions.partner.licence"}]
}

test_gateway_redactions_name_their_rule if {
	d := decide(itgw, "pull", json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]}]))
	d.redactions == [{"pointer": "/licence/end_user/contact", "rule": "redactions.gateway.licence"}]
}

test_customs_entity_redactions_name_their_rule if {
	entity := json.patch(licence, [{"op": "replace", "path": "/kind", "value": "entity"}, {"op": "add", "path": "/entity", "value": {"contact": "x"}}])
	d := decide(dpd, "pull", entity)
	d.redactions == [{"pointer": "/entity/contact", "rule": "redactions.customs.entity"}]
}

test_nothing_removed_no_redactions if {
	decide(aim, "pull", licence).redactions == []
	decide(dpd, "pull", export_event).redactions == []
	decide(aim, "push", licence).redactions == []
}

test_customs_redacts_only_fields_present if {
	no_value := json.remove(licence, ["licence/contract_value"])
	d := decide(dpd, "pull", no_value)
	d.allow
	d.redact == ["/licence/end_user/contact"]
	d.redactions == [{"pointer": "/licence/end_user/contact", "rule": "redactions.customs.licence"}]
}

test_agency_and_ministry_see_everything if {
	decide(aim, "pull", licence).redact == []
	decide(mod, "pull", licence).redact == []
}

test_partner_and_liaison_lose_personal_contact_only if {
	released := json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA", "NATO"]}])
	decide(ita, "pull", released).redact == ["/licence/end_user/contact"]
	decide(nato, "pull", released).redact == ["/licence/end_user/contact"]
}

test_events_not_redacted if {
	decide(dpd, "pull", export_event).redact == []
}

test_push_never_redacts if {
	decide(aim, "push", licence).redact == []
}

test_partner_sees_events_from_it if {
	from_ita := json.patch(to_ita, [{"op": "replace", "path": "/event/from", "value": "ITA"}, {"op": "replace", "path": "/event/to", "value": "ALB"}])
	allowed(decide(ita, "pull", from_ita))
}

# A peer gateway is sent a licence as a partner of its nation would pull
# it: released to its nation, with the end user's contact removed.
test_gateway_sent_licence_redacted if {
	d := decide(itgw, "pull", json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]}]))
	allowed(d)
	"/licence/end_user/contact" in d.redact
}

test_gateway_not_sent_entities if {
	entity := json.patch(licence, [{"op": "replace", "path": "/kind", "value": "entity"}])
	denied_with(decide(itgw, "pull", entity), "pull_not_permitted")
}
