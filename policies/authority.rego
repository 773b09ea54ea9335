package ura

# Two-person release authority (gateway/ARCHITECTURE.md, "Release
# authority"). A pull refused only for reasons listed in
# data.ura_data.release_authority.reasons (a label whose releasable_to
# does not name the caller's nation: not_releasable) may be released to
# that one member by two security officers. Clearance is never waived: a
# record above the caller's clearance is refused with clearance_insufficient,
# which no officer can release.
#
# The decision says releasable_by_authority: true when every reason is such
# a reason; the gateway then looks for a release in force, and only when it
# finds one asks again with input.release naming it. Then the record is
# released, with the redactions any pull by the caller's kind gets.

releasable_by_authority if {
	pull_granted
	count(deny) > 0
	every r in deny {
		r.code in data.ura_data.release_authority.reasons
	}
}

# The gateway names the release it found; the policy still checks that it
# names this record version and this caller.
released_by_authority if {
	input.release.record_id == input.record.id
	input.release.version == input.record.version
	input.release.recipient == input.caller.member
	releasable_by_authority
}

authority_notes := notes | {{"code": "released_by_authority", "message": msg}} if {
	waived := sort([r.code | some r in deny])
	msg := sprintf("released to %v by two-person authority %v, despite: %v", [who("member"), input.release.id, concat(", ", waived)])
}
