// Package deliveries finds the exports whose delivery the importing state
// has not confirmed (UN Firearms Protocol art. 10(4); ATT art. 8(1);
// gateway/ARCHITECTURE.md, "Deliveries"), from the keyed register of
// declarations the store keeps. It reads no record and decides nothing:
// the API decides what each caller may see of the list, the console shows
// it to security officers.
package deliveries

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/registers"
)

// ErrTooMany: the register holds more entries than one listing reads.
var ErrTooMany = errors.New("too many declarations to list at once")

// MaxEntries bounds the register entries one listing reads, like an item's
// trace and the open trace requests.
const MaxEntries = 100000

// Scan walks every entry of one keyed register (store.Store.ScanKeyed).
type Scan func(ctx context.Context, register string, fn func(key, recordID string, value json.RawMessage) error) error

// Unconfirmed is one export declared here that no DELIVERY_CONFIRMED from
// its destination closes, declared longer ago than the configured days.
type Unconfirmed struct {
	// ID is the EXPORT_DECLARED record's id.
	ID                 string  `json:"id"`
	CustomsDeclaration string  `json:"customs_declaration"`
	LicenceID          string  `json:"licence_id"`
	Item               Marking `json:"marking"`
	Category           string  `json:"ml_category"`
	Quantity           int64   `json:"quantity"`
	To                 string  `json:"to"`
	// Declared is the declaration's event.at; WaitingSeconds how long it
	// has waited since, at the time of the listing.
	Declared       time.Time `json:"declared"`
	WaitingSeconds int64     `json:"waiting_seconds"`
}

// Marking names an item as the trace route does.
type Marking struct {
	Country      string `json:"country"`
	Manufacturer string `json:"manufacturer"`
	Serial       string `json:"serial"`
}

// List returns the unconfirmed exports declared before now − within,
// oldest first (ties by record id). An export is confirmed by a
// DELIVERY_CONFIRMED under the same customs declaration number whose
// destination (event.to) is the export's: the policy takes one only from
// that state's members and gateway.
func List(ctx context.Context, scan Scan, now time.Time, within time.Duration) ([]Unconfirmed, error) {
	return ListAtMost(ctx, scan, now, within, MaxEntries)
}

// ListAtMost is List reading at most limit register entries: one more is
// ErrTooMany, before it is used.
func ListAtMost(ctx context.Context, scan Scan, now time.Time, within time.Duration, limit int) ([]Unconfirmed, error) {
	type export struct {
		id string
		d  registers.Declared
	}
	var (
		exports   = map[string][]export{}
		confirmed = map[string]map[string]bool{} // declaration → destination
		n         int
	)
	err := scan(ctx, registers.RegisterDeclarations, func(key, id string, raw json.RawMessage) error {
		if n++; n > limit {
			return fmt.Errorf("%w: more than %d entries", ErrTooMany, limit)
		}
		var d registers.Declared
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("declarations register entry %s of %s: %w", key, id, err)
		}
		switch d.Type {
		case "EXPORT_DECLARED":
			exports[key] = append(exports[key], export{id, d})
		case "DELIVERY_CONFIRMED":
			if confirmed[key] == nil {
				confirmed[key] = map[string]bool{}
			}
			confirmed[key][d.To] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	cutoff := now.Add(-within)
	out := []Unconfirmed{}
	for key, list := range exports {
		for _, x := range list {
			if confirmed[key][x.d.To] {
				continue
			}
			at, err := time.Parse(registers.EventAtLayout, x.d.At)
			if err != nil || !at.Before(cutoff) {
				continue
			}
			u := Unconfirmed{ID: x.id, CustomsDeclaration: key, LicenceID: x.d.LicenceID, Category: x.d.Category,
				Quantity: x.d.Quantity, To: x.d.To, Declared: at, WaitingSeconds: max(0, int64(now.Sub(at)/time.Second))}
			if parts := strings.SplitN(x.d.Item, "|", 3); len(parts) == 3 {
				u.Item = Marking{Country: parts[0], Manufacturer: parts[1], Serial: parts[2]}
			}
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b Unconfirmed) int {
		return cmp.Or(a.Declared.Compare(b.Declared), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Within is confirm_within_days as a duration.
func Within(days int) time.Duration { return time.Duration(days) * 24 * time.Hour }
