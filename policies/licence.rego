package ura

# Pushes that name an entity on the register of excluded entities, as licence
# holder or end user, are refused.
named_parties contains ["holder", party] if {
	input.record.kind == "licence"
	party := input.record.licence.holder
}

named_parties contains ["end user", party] if {
	input.record.kind == "licence"
	party := input.record.licence.end_user
}

named_parties contains ["end user", party] if {
	input.record.kind == "end_user_certificate"
	party := input.record.end_user_certificate.end_user
}

deny contains reason("excluded_entity", msg) if {
	input.action == "push"
	registered
	some [role, party] in named_parties
	excluded(party)
	msg := sprintf("the %s %v is on the register of excluded entities", [role, display_name(party)])
}

display_name(party) := party.name if {
	is_string(party.name)
} else := party.entity_id if {
	is_string(party.entity_id)
} else := "(unnamed)"

excluded(party) if {
	some entry in input.registers.excluded.by_id[party.entity_id]
	exclusion_in_force(entry)
}

excluded(party) if {
	some entry in input.registers.excluded.by_name[normalise(party.name)]
	exclusion_in_force(entry)
}

# A party named only by its registration number is also matched by the name
# the register of entities holds for it.
excluded(party) if {
	entity := input.registers.entities[party.entity_id]
	some entry in input.registers.excluded.by_name[normalise(entity.name)]
	exclusion_in_force(entry)
}

# An exclusion is in force from its first day to the end of its last day,
# and unless one of the two is shown to be past or to come, it is in force.
exclusion_in_force(entry) if {
	not exclusion_not_started(entry)
	not exclusion_ended(entry)
}

exclusion_not_started(entry) if now_ns < day_start(entry.from)

exclusion_ended(entry) if now_ns > day_end(entry.until)

# EXPORT_DECLARED and IMPORT_DECLARED: customs declares a movement against
# a licence; the licence must exist, be in force today, have been issued by
# an institution of this gateway's own instance, be of the movement's type
# and cover the item's category. An export must also be for the licence's
# destination and have quantity left.
#
# Those checks are one set per type, export_refusals and import_refusals,
# reached through these rules only. Their equalities on the input are what
# OPA's rule index keys on, so every other record, pushed or pulled, skips
# all of them at once.
deny contains refusal if {
	input.action == "push"
	input.record.kind == "tracking_event"
	input.record.event.type == "EXPORT_DECLARED"
	registered
	some refusal in export_refusals
}

# An import declared here (UN Firearms Protocol art. 10: the importing
# state's authorisation) names an import licence of this gateway's own
# instance. An IMPORT_DECLARED relayed by a peer gateway is the other
# state's confirmation that a shipment arrived there, made against its own
# licence, which this register does not hold; it is not checked against
# this one, and so tells the peer nothing of the licences held here.
deny contains refusal if {
	input.action == "push"
	input.record.kind == "tracking_event"
	input.record.event.type == "IMPORT_DECLARED"
	registered
	originator_in_own_instance
	some refusal in import_refusals
}

export_refusals contains refusal if some refusal in licence_refusals

import_refusals contains refusal if some refusal in licence_refusals

export_licence_id := input.record.event.licence_id

export_licence := input.registers.licences[export_licence_id]

licence_refusals contains reason("licence_unknown", msg) if {
	not export_licence
	msg := sprintf("licence %v is not in the register of licences", [object.get(input.record.event, "licence_id", "(none)")])
}

licence_refusals contains reason("licence_suspended", sprintf("licence %s is suspended", [export_licence_id])) if {
	export_licence.status == "suspended"
}

licence_refusals contains reason("licence_revoked", sprintf("licence %s has been revoked", [export_licence_id])) if {
	export_licence.status == "revoked"
}

licence_refusals contains reason("licence_expired", sprintf("licence %s has expired", [export_licence_id])) if {
	export_licence.status == "expired"
}

# Validity dates must be shown to include today; a licence without them is
# not in force.
licence_not_expired if now_ns <= day_end(export_licence.valid_until)

licence_started if now_ns >= day_start(export_licence.valid_from)

licence_refusals contains reason("licence_expired", msg) if {
	export_licence
	not licence_not_expired
	msg := sprintf("licence %s expired on %v", [export_licence_id, object.get(export_licence, "valid_until", "(no date)")])
}

licence_refusals contains reason("licence_not_yet_valid", msg) if {
	export_licence
	not licence_started
	msg := sprintf("licence %s is valid only from %v", [export_licence_id, object.get(export_licence, "valid_from", "(no date)")])
}

licence_status_named if export_licence.status in {"suspended", "revoked", "expired"}

licence_status_valid if export_licence.status in data.ura_data.licence.valid_statuses

licence_refusals contains reason("licence_not_in_force", msg) if {
	export_licence
	not licence_status_named
	not licence_status_valid
	msg := sprintf("licence %s has status %v", [export_licence_id, object.get(export_licence, "status", "(none)")])
}

# A movement across this nation's border is declared against a licence that
# one of its own institutions issued. A peer's licences are relayed here for
# reference (relay.rego) and kept in the same register; they license nothing
# at this border. A licence whose originator the register does not know is
# not shown to be national.
licence_issued_here if instance_of(export_licence.originator) == data.ura_data.own_instance

licence_refusals contains reason("licence_not_national", msg) if {
	export_licence
	not licence_issued_here
	msg := sprintf("licence %s was issued by %v, not by an institution of instance %v", [export_licence_id, object.get(export_licence, "originator", "(unknown)"), data.ura_data.own_instance])
}

export_licence_type if export_licence.type in data.ura_data.licence.export_types

export_refusals contains reason("licence_type_mismatch", msg) if {
	export_licence
	not export_licence_type
	msg := sprintf("licence %s is an %v licence, not an export licence", [export_licence_id, object.get(export_licence, "type", "(untyped)")])
}

import_licence_type if export_licence.type in data.ura_data.licence.import_types

import_refusals contains reason("licence_type_mismatch", msg) if {
	export_licence
	not import_licence_type
	msg := sprintf("licence %s is an %v licence, not an import licence", [export_licence_id, object.get(export_licence, "type", "(untyped)")])
}

destination_matches if input.record.event.to == export_licence.destination

export_refusals contains reason("licence_destination_mismatch", msg) if {
	export_licence
	not destination_matches
	msg := sprintf("licence %s is for export to %v, not to %v", [export_licence_id, object.get(export_licence, "destination", "(none)"), rec(["event", "to"])])
}

export_category := input.record.event.item.ml_category

# A declaration without a quantity moves one serialised item.
export_quantity := object.get(input.record.event, "quantity", 1)

licensed_quantity := export_licence.items[export_category]

licence_refusals contains reason("licence_category_not_covered", msg) if {
	export_licence
	not licensed_quantity
	msg := sprintf("licence %s covers no %v items", [export_licence_id, rec(["event", "item", "ml_category"])])
}

# A new version of the same declaration replaces its old quantity rather
# than adding to it.
previous_export_quantity := object.get(input.previous.event, "quantity", 1) if {
	input.previous.event.type == "EXPORT_DECLARED"
	input.previous.event.licence_id == export_licence_id
	input.previous.event.item.ml_category == export_category
} else := 0

exported_so_far := q if {
	q := input.registers.exported[export_licence_id][export_category]
} else := 0

already_exported := exported_so_far - previous_export_quantity

quantity_within_licence if already_exported + export_quantity <= licensed_quantity

export_refusals contains reason("licence_quantity_exceeded", msg) if {
	licensed_quantity
	not quantity_within_licence
	msg := sprintf("licence %s allows %v %v items; %v already exported, this declaration adds %v", [export_licence_id, licensed_quantity, export_category, already_exported, export_quantity])
}

# A licence whose holder was excluded after it was issued exports nothing more.
export_refusals contains reason("excluded_entity", msg) if {
	excluded(export_licence.holder)
	msg := sprintf("the holder %v of licence %s is on the register of excluded entities", [display_name(export_licence.holder), export_licence_id])
}
