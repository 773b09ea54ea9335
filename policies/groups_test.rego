package ura_test

# Releasability groups: NATO and EU, member by member.

rel(groups) := json.patch(licence, [{"op": "replace", "path": "/label/releasable_to", "value": groups}])

nato_members := data.ura_data.groups.NATO.members

eu_members := data.ura_data.groups.EU.members

# A partner of each member nation (NATO and EU bodies included) sees a
# record released to the group.
test_every_nato_member_sees_rel_nato if {
	every nation in nato_members {
		allowed(decide(partner_of(nation, "XX/GOV/MOD"), "pull", rel(["NATO"])))
	}
}

test_every_eu_member_sees_rel_eu if {
	every nation in eu_members {
		allowed(decide(partner_of(nation, "XX/GOV/MOD"), "pull", rel(["EU"])))
	}
}

# Partners outside the group do not: Serbia and Kosovo are in neither;
# Norway, Iceland, Türkiye, the United Kingdom, the United States and
# Albania are NATO but not EU; Austria, Ireland, Cyprus and Malta EU but not
# NATO.
test_non_members_denied_rel_nato if {
	every nation in ["SRB", "XKX", "AUT", "IRL", "CYP", "MLT", "CHE", "UKR", "BIH", "EU"] {
		denied_with(decide(partner_of(nation, "XX/GOV/MOD"), "pull", rel(["NATO"])), "not_releasable")
	}
}

test_non_members_denied_rel_eu if {
	every nation in ["SRB", "XKX", "NOR", "ISL", "TUR", "GBR", "USA", "CAN", "ALB", "MNE", "MKD", "NATO"] {
		denied_with(decide(partner_of(nation, "XX/GOV/MOD"), "pull", rel(["EU"])), "not_releasable")
	}
}

test_serbia_and_kosovo_denied_rel_alb_nato if {
	denied_with(decide(partner_of("SRB", "RS/GOV/MOD"), "pull", licence), "not_releasable")
	denied_with(decide(partner_of("XKX", "XK/GOV/MOD"), "pull", licence), "not_releasable")
}

# A nation named beside a group is released to as well.
test_group_and_nation_together if {
	allowed(decide(partner_of("SRB", "RS/GOV/MOD"), "pull", rel(["EU", "SRB"])))
	allowed(decide(partner_of("AUT", "AT/GOV/MOD"), "pull", rel(["EU", "SRB"])))
	denied_with(decide(partner_of("NOR", "NO/GOV/MOD"), "pull", rel(["EU", "SRB"])), "not_releasable")
}

test_liaison_is_a_nato_body if {
	allowed(decide(nato, "pull", rel(["NATO"])))
	denied_with(decide(nato, "pull", rel(["EU"])), "not_releasable")
}

test_unknown_group_releases_to_no_one if {
	denied_with(decide(ita, "pull", rel(["OSCE"])), "not_releasable")
}

# Membership is data with its source and date: 32 allies plus NATO bodies,
# 27 member states plus EU bodies, each listed once, each a code the
# record schemas accept.
test_groups_carry_source_and_date if {
	every name, g in data.ura_data.groups {
		is_string(g.source)
		count(g.source) > 0
		time.parse_ns("2006-01-02", g.as_of)
		count(g.members) == count({m | some m in g.members})
		name in g.members
	}
	count(nato_members) == 33
	count(eu_members) == 28
	every m in nato_members {
		regex.match(`^([A-Z]{3}|NATO)$`, m)
	}
	every m in eu_members {
		regex.match(`^([A-Z]{3}|EU)$`, m)
	}
}

test_releasable_to_any_nation if {
	data.ura.releasable_to({"releasable_to": ["NATO"]}, "ITA")
	data.ura.releasable_to({"releasable_to": ["SRB"]}, "SRB")
	not data.ura.releasable_to({"releasable_to": ["NATO"]}, "SRB")
	not data.ura.releasable_to({}, "ALB")
}

# The lists themselves, written out once more: a nation dropped from or
# added to data.json fails here, not only in a decision.
test_nato_membership_as_of_2024_03_07 if {
	{m | some m in nato_members} == {
		"ALB", "BEL", "BGR", "CAN", "HRV", "CZE", "DNK", "EST", "FIN", "FRA", "DEU",
		"GRC", "HUN", "ISL", "ITA", "LVA", "LTU", "LUX", "MNE", "NLD", "MKD", "NOR",
		"POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE", "TUR", "GBR", "USA", "NATO",
	}
}

test_eu_membership_as_of_2020_02_01 if {
	{m | some m in eu_members} == {
		"AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU",
		"GRC", "HUN", "IRL", "ITA", "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT",
		"ROU", "SVK", "SVN", "ESP", "SWE", "EU",
	}
}
