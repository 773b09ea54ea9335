package ura

# Brokering (UN Firearms Protocol art. 15; Common Position 2003/468/CFSP):
# a licence or an export declaration that names a broker is a brokered
# transaction. Its broker must be on the register of brokers, act under a
# brokering licence of its own in force that covers the goods and the
# destination, and not be an excluded entity (licence.rego's
# named_parties). Registers: input.registers.broker_registrations (by the
# broker's entity id) and brokering_licences (by the brokering licence's
# record id).

deny contains refusal if {
	input.action == "push"
	input.record.kind == "licence"
	registered
	originator_in_own_instance
	input.record.licence.status in data.ura_data.licence.valid_statuses
	some refusal in broker_refusals(input.record.licence.broker, licence_goods, input.record.licence.destination, time.now_ns())
}

deny contains refusal if {
	input.action == "push"
	input.record.kind == "tracking_event"
	input.record.event.type == "EXPORT_DECLARED"
	registered
	some refusal in broker_refusals(input.record.event.broker, {export_category: export_quantity}, input.record.event.to, declared_on)
}

named_parties contains ["broker", party] if {
	input.record.kind == "licence"
	party := input.record.licence.broker
}

named_parties contains ["broker", party] if {
	input.record.kind == "tracking_event"
	party := input.record.event.broker
}

# One function of what the transaction moves, so a licence and a
# declaration are held to the same rule: goods is {ML category: quantity},
# on is the day the transaction is decided for.
broker_refusals(broker, goods, destination, on) := {r |
	some r in broker_faults(broker, goods, destination, on)
}

broker_faults(broker, _, _, on) := {reason("broker_not_registered", msg)} if {
	not broker_registered(broker, on)
	msg := sprintf("the broker %v (%v) is on no register of brokers in force", [display_name(broker), object.get(broker, "entity_id", "?")])
}

broker_faults(broker, _, _, on) := {reason("brokering_licence_missing", msg)} if {
	broker_registered(broker, on)
	not brokering_licence_in_force(broker, on)
	msg := sprintf("the broker %v holds no brokering licence %v in force", [display_name(broker), object.get(broker, "brokering_licence_id", "(none)")])
}

broker_faults(broker, goods, destination, on) := {reason("brokering_not_covered", msg)} if {
	broker_registered(broker, on)
	bl := brokering_licence_in_force(broker, on)
	faults := brokering_gaps(bl, goods, destination)
	count(faults) > 0
	msg := sprintf("brokering licence %v %s", [broker.brokering_licence_id, concat("; ", sort(faults))])
}

broker_registered(broker, on) if {
	some entry in input.registers.broker_registrations[broker.entity_id]
	entry.status in data.ura_data.brokering.registration_statuses
	in_force_on(entry, on)
}

brokering_licence_in_force(broker, on) := bl if {
	bl := input.registers.brokering_licences[broker.brokering_licence_id][broker.brokering_licence_id]
	bl.broker == broker.entity_id
	bl.status in data.ura_data.licence.valid_statuses
	in_force_on(bl, on)
}

brokering_gaps(bl, goods, destination) := {f |
	some cat, q in goods
	not object.get(bl.items, cat, 0) >= q
	f := sprintf("covers %v %v items, not %v", [object.get(bl.items, cat, 0), cat, q])
} | {f |
	bl.destination != destination
	f := sprintf("is for %v, not %v", [bl.destination, destination])
}
