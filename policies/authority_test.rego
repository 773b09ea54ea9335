package ura_test

# Two-person release authority: which refusals officers may release, and
# what a release in force changes.

confidential_alb := json.patch(licence, [
	{"op": "replace", "path": "/label/classification", "value": "CONFIDENTIAL"},
	{"op": "replace", "path": "/label/releasable_to", "value": ["ALB"]},
])

release_of(record, member) := {"id": "0190a000-0000-7000-8000-000000000001", "record_id": record.id, "version": record.version, "recipient": member}

decide_released(caller, record, release) := d if {
	d := data.ura.decision with input as {"caller": caller, "action": "pull", "record": record, "previous": null, "release": release}
		with time.now_ns as now
}

# Italy's MoD is cleared CONFIDENTIAL; ALB only on the label: not_releasable
# alone, which officers may release.
test_not_releasable_alone_is_releasable_by_authority if {
	d := decide(ita, "pull", confidential_alb)
	codes(d) == {"not_releasable"}
	d.releasable_by_authority == true
}

# A SECRET record is above Italy's clearance: never releasable by authority.
test_clearance_insufficient_is_not_releasable_by_authority if {
	secret := json.patch(confidential_alb, [{"op": "replace", "path": "/label/classification", "value": "SECRET"}])
	d := decide(ita, "pull", secret)
	codes(d) == {"clearance_insufficient", "not_releasable"}
	not d.releasable_by_authority
	not decide_released(ita, secret, release_of(secret, "IT/GOV/MOD")).allow
}

test_clearance_insufficient_alone_is_not_releasable_by_authority if {
	d := decide(dpd, "pull", json.patch(licence, [{"op": "replace", "path": "/label/classification", "value": "CONFIDENTIAL"}]))
	codes(d) == {"clearance_insufficient"}
	not d.releasable_by_authority
}

# A kind the caller never receives, or a partner's scope, is no label matter.
test_other_refusals_are_not_releasable_by_authority if {
	only_ita := json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ITA"]}])
	d := decide(auditor, "pull", only_ita)
	"pull_not_permitted" in codes(d)
	not d.releasable_by_authority
	e := decide(ita, "pull", json.remove(to_ita, ["event/to", "event/from"]))
	codes(e) == {"outside_partner_scope"}
	not e.releasable_by_authority
}

test_allowed_and_push_are_not_releasable_by_authority if {
	not decide(ita, "pull", licence).releasable_by_authority
	not decide(ita, "push", confidential_alb).releasable_by_authority
}

test_unregistered_is_not_releasable_by_authority if {
	d := data.ura.decision with input as {"action": "pull", "record": confidential_alb, "previous": null}
	not d.releasable_by_authority
}

# With the release in force the record is released, redacted as any
# partner's pull, and says by which release and despite what.
test_release_in_force_releases if {
	d := decide_released(ita, confidential_alb, release_of(confidential_alb, "IT/GOV/MOD"))
	d.allow
	d.redact == ["/licence/end_user/contact"]
	d.redactions == [{"pointer": "/licence/end_user/contact", "rule": "redactions.partner.licence"}]
	codes(d) == {"redacted", "released_by_authority"}
	some r in d.reasons
	r.code == "released_by_authority"
	contains(r.message, "0190a000-0000-7000-8000-000000000001")
	contains(r.message, "not_releasable")
	not d.releasable_by_authority
}

# A release names one record version and one recipient.
test_release_for_another_version_or_recipient_releases_nothing if {
	other_version := object.union(release_of(confidential_alb, "IT/GOV/MOD"), {"version": 2})
	d := decide_released(ita, confidential_alb, other_version)
	not d.allow
	d.releasable_by_authority
	other_record := object.union(release_of(confidential_alb, "IT/GOV/MOD"), {"record_id": "AIM-LIC-2026-000999"})
	not decide_released(ita, confidential_alb, other_record).allow
	cze_release := release_of(confidential_alb, "CZ/GOV/MOD")
	not decide_released(ita, confidential_alb, cze_release).allow
	not decide_released(cze, confidential_alb, release_of(confidential_alb, "IT/GOV/MOD")).allow
}

# A release changes nothing the policy allows already.
test_release_of_allowed_record_changes_nothing if {
	d := decide_released(ita, licence, release_of(licence, "IT/GOV/MOD"))
	d.allow
	codes(d) == {"redacted"}
}
