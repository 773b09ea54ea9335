package config

import (
	"strings"
	"testing"
)

func TestDeliveriesConfirmWithinDays(t *testing.T) {
	if d := Default().Deliveries.ConfirmWithinDays; d != 90 {
		t.Errorf("default confirm_within_days = %d, want 90", d)
	}
	cfg, err := Parse([]byte("deliveries:\n  confirm_within_days: 30\n"), "")
	if err != nil || cfg.Deliveries.ConfirmWithinDays != 30 {
		t.Fatalf("parse: %v %+v", err, cfg)
	}
	for _, days := range []int{0, -1, 3651} {
		v := &validator{}
		(&Deliveries{ConfirmWithinDays: days}).validate(v.at("deliveries"))
		if err := v.err(); err == nil || !strings.Contains(err.Error(), "deliveries.confirm_within_days:") {
			t.Errorf("confirm_within_days %d: %v", days, err)
		}
	}
	if _, err := Parse([]byte("deliveries:\n  confirm_within: 30\n"), ""); err == nil {
		t.Error("a misspelt key was taken")
	}
}
