package config

// Deliveries is how the gateway follows up exports whose delivery the
// importing state has not confirmed (UN Firearms Protocol art. 10(4); ATT
// art. 8(1); ARCHITECTURE.md, "Deliveries").
type Deliveries struct {
	// ConfirmWithinDays is how long after its export declaration an export
	// may wait for the importing state's DELIVERY_CONFIRMED before it is
	// listed as unconfirmed (GET /v1/deliveries/unconfirmed, the console).
	ConfirmWithinDays int `yaml:"confirm_within_days"`
}

// defaultConfirmWithinDays: ninety days, a quarter, the usual term for
// returning a delivery verification certificate.
const defaultConfirmWithinDays = 90

func defaultDeliveries() Deliveries { return Deliveries{ConfirmWithinDays: defaultConfirmWithinDays} }

func (d *Deliveries) validate(v *validator) {
	if d.ConfirmWithinDays < 1 || d.ConfirmWithinDays > 3650 {
		v.add("confirm_within_days", "must be from 1 to 3650 days")
	}
}
