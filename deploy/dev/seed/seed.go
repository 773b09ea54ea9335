// Package seed holds the development stack's demo records: one NDJSON file
// per pushing institution, each record's label.originator being that
// institution. They are pushed in Order, so that what a record refers to
// (a licence, an entity) is already stored when it arrives.
package seed

import "embed"

// Files are the seed files, as pushed.
//
//go:embed *.ndjson
var Files embed.FS

// Push is one seed file and the member that pushes it.
type Push struct {
	File   string
	Member string
}

// Order is the order the files are pushed in: AIM's registers and licences
// first, then the Ministry of Defence's end-user certificate and transfers,
// then Customs' declarations against those licences.
var Order = []Push{
	{File: "aim.ndjson", Member: "AL/GOV/AIM"},
	{File: "mod.ndjson", Member: "AL/GOV/MOD"},
	{File: "customs.ndjson", Member: "AL/GOV/DPD"},
}
