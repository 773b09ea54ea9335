package deliveries

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/registers"
)

type entry struct {
	key, id string
	d       registers.Declared
}

func scanOf(entries []entry) Scan {
	return func(_ context.Context, register string, fn func(key, recordID string, value json.RawMessage) error) error {
		if register != registers.RegisterDeclarations {
			return errors.New("wrong register " + register)
		}
		for _, e := range entries {
			raw, _ := json.Marshal(e.d)
			if err := fn(e.key, e.id, raw); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestList(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(days int) string { return now.AddDate(0, 0, -days).Format(registers.EventAtLayout) }
	exp := func(to string, days int) registers.Declared {
		return registers.Declared{Type: "EXPORT_DECLARED", Item: "ALB|KAYO|K1", LicenceID: "LIC-1", Category: "ML1", Quantity: 3, To: to, At: at(days)}
	}
	got, err := List(context.Background(), scanOf([]entry{
		{"EX-1", "D1", exp("CZE", 120)}, // waiting
		{"EX-1", "D2", exp("CZE", 100)}, // waiting, same declaration
		{"EX-2", "D3", exp("ITA", 200)}, // confirmed by Italy
		{"EX-2", "I1", registers.Declared{Type: "DELIVERY_CONFIRMED", To: "ITA", At: at(150)}},
		{"EX-3", "D4", exp("HRV", 95)}, // confirmed by the wrong state: still waiting
		{"EX-3", "X1", registers.Declared{Type: "DELIVERY_CONFIRMED", To: "SRB", At: at(90)}},
		{"EX-3", "D5", registers.Declared{Type: "EXIT_CONFIRMED", To: "HRV", At: at(94)}},
		{"EX-4", "D6", exp("CZE", 30)}, // not overdue yet
	}), now, Within(90))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range got {
		ids = append(ids, u.ID)
	}
	if want := []string{"D1", "D2", "D4"}; len(ids) != 3 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
		t.Fatalf("listed %v, want %v", ids, want)
	}
	if u := got[0]; u.WaitingSeconds != 120*86400 || u.Item.Serial != "K1" || u.CustomsDeclaration != "EX-1" || u.Quantity != 3 {
		t.Errorf("first = %+v", u)
	}
}

func TestListBounded(t *testing.T) {
	big := func(_ context.Context, _ string, fn func(key, recordID string, value json.RawMessage) error) error {
		for i := 0; i <= MaxEntries; i++ {
			if err := fn("K", "ID", json.RawMessage(`{"type":"EXIT_CONFIRMED","at":"x"}`)); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := List(context.Background(), big, time.Now(), Within(90)); !errors.Is(err, ErrTooMany) {
		t.Errorf("err = %v, want ErrTooMany", err)
	}
}

// TestListAtMostStopsAtItsBound: one entry beyond the bound ends the read
// there, before it is used, and the bound itself is read whole.
func TestListAtMostStopsAtItsBound(t *testing.T) {
	const limit = 10
	read := 0
	scan := func(_ context.Context, _ string, fn func(key, recordID string, value json.RawMessage) error) error {
		for range 3 * limit {
			read++
			if err := fn("K", "ID", json.RawMessage(`{"type":"EXIT_CONFIRMED","at":"x"}`)); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := ListAtMost(context.Background(), scan, time.Now(), Within(90), limit); !errors.Is(err, ErrTooMany) || read != limit+1 {
		t.Errorf("err = %v after %d entries, want ErrTooMany after %d", err, read, limit+1)
	}
	read = 0
	exact := func(ctx context.Context, r string, fn func(key, recordID string, value json.RawMessage) error) error {
		return scan(ctx, r, func(k, id string, v json.RawMessage) error {
			if read > limit {
				return nil
			}
			return fn(k, id, v)
		})
	}
	if _, err := ListAtMost(context.Background(), exact, time.Now(), Within(90), limit); err != nil {
		t.Errorf("a register of exactly the bound: %v", err)
	}
}
