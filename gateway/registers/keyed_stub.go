package registers

import "github.com/ura-gateway/ura/gateway/records"

// Temporary: the keyed registers API as announced, until it is merged.

type KeyedEntry struct {
	Key   string
	Value any
}

type Keyed struct {
	Name    string
	Version int
	Entries func(rec *records.Record) []KeyedEntry
	Lookups func(rec *records.Record) []string
	Follow  func(rec *records.Record, snap *Snapshot) []string
}

func (s *Snapshot) licenceConditions(string) (conditionsValue, bool) { return conditionsValue{}, false }
