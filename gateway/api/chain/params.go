package chain

import (
	"net/http"
	"slices"
	"strings"

	"github.com/ura-gateway/ura/gateway/problem"
)

// Params collects what is wrong with a request's query or path parameters.
// Every error names its parameter by its name, the one pointer convention
// of parameter errors on every route.
type Params struct {
	errs []problem.FieldError
}

// Bad notes that parameter name is invalid.
func (p *Params) Bad(name, detail string) {
	p.errs = append(p.errs, problem.FieldError{Pointer: name, Detail: detail})
}

// Err is the 400 naming every invalid parameter, sorted by name; nil when
// there is none.
func (p *Params) Err() error {
	switch len(p.errs) {
	case 0:
		return nil
	case 1:
		return ParamError(p.errs[0].Pointer, p.errs[0].Detail)
	}
	errs := slices.Clone(p.errs)
	slices.SortStableFunc(errs, func(a, b problem.FieldError) int { return strings.Compare(a.Pointer, b.Pointer) })
	e := problem.New(http.StatusBadRequest, problem.TypeBadRequest, "invalid parameters")
	e.Errors = errs
	return e
}

// ParamError is the 400 of one invalid query or path parameter.
func ParamError(name, detail string) *problem.Error {
	p := problem.New(http.StatusBadRequest, problem.TypeBadRequest, "invalid parameter "+name)
	p.Errors = []problem.FieldError{{Pointer: name, Detail: detail}}
	return p
}
