// Package sanctions reads a consolidated sanctions list in the UN Security
// Council's XML format and screens names against it with the matcher of
// gateway/names; List keeps the list in force and reloads it when its file
// changes.
package sanctions

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/ura-gateway/ura/gateway/names"
)

// Listing is one entry of a consolidated sanctions list: an individual or
// an entity, its names, and what a reason quotes of it.
type Listing struct {
	DataID    string
	Reference string
	ListedOn  string
	// Individual is false for an entity.
	Individual bool
	Name       string
	Aliases    []string
	// Countries are the alpha-3 codes of its addresses and nationalities
	// that could be read.
	Countries []string
}

// Sanctions is a loaded list, indexed for screening; it never changes once
// built (a reload builds another).
type Sanctions struct {
	Listings []Listing
	byID     map[string]*Listing
	index    *names.Index
}

// maxSanctionsBytes bounds the file read: the UN list is a few MB.
const maxSanctionsBytes = 256 << 20

// Load reads a file in the UN Security Council consolidated list
// format (https://scsanctions.un.org/resources/xml/en/consolidated.xml).
func Load(path string) (*Sanctions, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sanctions list: %w", err)
	}
	defer func() { _ = f.Close() }()
	s, err := Parse(io.LimitReader(f, maxSanctionsBytes))
	if err != nil {
		return nil, fmt.Errorf("sanctions list %s: %w", path, err)
	}
	return s, nil
}

// The XML of the consolidated list, only what screening reads.
type unList struct {
	XMLName     xml.Name       `xml:"CONSOLIDATED_LIST"`
	Individuals []unIndividual `xml:"INDIVIDUALS>INDIVIDUAL"`
	Entities    []unEntity     `xml:"ENTITIES>ENTITY"`
}

type unAlias struct {
	Name string `xml:"ALIAS_NAME"`
}

type unAddress struct {
	Country string `xml:"COUNTRY"`
}

type unCommon struct {
	DataID    string `xml:"DATAID"`
	First     string `xml:"FIRST_NAME"`
	Second    string `xml:"SECOND_NAME"`
	Third     string `xml:"THIRD_NAME"`
	Fourth    string `xml:"FOURTH_NAME"`
	Reference string `xml:"REFERENCE_NUMBER"`
	ListedOn  string `xml:"LISTED_ON"`
	Original  string `xml:"NAME_ORIGINAL_SCRIPT"`
}

type unIndividual struct {
	unCommon
	Nationality []string    `xml:"NATIONALITY>VALUE"`
	Aliases     []unAlias   `xml:"INDIVIDUAL_ALIAS"`
	Addresses   []unAddress `xml:"INDIVIDUAL_ADDRESS"`
}

type unEntity struct {
	unCommon
	Aliases   []unAlias   `xml:"ENTITY_ALIAS"`
	Addresses []unAddress `xml:"ENTITY_ADDRESS"`
}

// Parse reads the consolidated list. A document that is not one
// (another root, no listing at all, a listing without DATAID or name) is
// refused whole: a list read in part would clear the names it lost.
func Parse(r io.Reader) (*Sanctions, error) {
	var doc unList
	dec := xml.NewDecoder(r)
	if err := dec.Decode(&doc); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("malformed XML at line %d: %s", se.Line, se.Msg)
		}
		return nil, fmt.Errorf("not a consolidated list (root CONSOLIDATED_LIST): %w", err)
	}
	s := &Sanctions{byID: map[string]*Listing{}}
	seenIDs := map[string]bool{}
	add := func(kind string, i int, c unCommon, individual bool, aliases []unAlias, countries []string) error {
		l := Listing{DataID: strings.TrimSpace(c.DataID), Reference: strings.TrimSpace(c.Reference),
			ListedOn: strings.TrimSpace(c.ListedOn), Individual: individual}
		l.Name = joinNames(c.First, c.Second, c.Third, c.Fourth)
		if l.DataID == "" || l.Name == "" {
			return fmt.Errorf("%s %d: DATAID and FIRST_NAME are required", kind, i+1)
		}
		if seenIDs[l.DataID] {
			return fmt.Errorf("%s %d: DATAID %s listed twice", kind, i+1, l.DataID)
		}
		seenIDs[l.DataID] = true
		if o := strings.TrimSpace(c.Original); o != "" {
			l.Aliases = append(l.Aliases, o)
		}
		for _, a := range aliases {
			if n := strings.TrimSpace(a.Name); n != "" {
				l.Aliases = append(l.Aliases, n)
			}
		}
		seen := map[string]bool{}
		for _, c := range countries {
			if code, ok := countryCode(c); ok && !seen[code] {
				seen[code] = true
				l.Countries = append(l.Countries, code)
			}
		}
		s.Listings = append(s.Listings, l)
		return nil
	}
	s.Listings = make([]Listing, 0, len(doc.Individuals)+len(doc.Entities))
	for i, in := range doc.Individuals {
		countries := append([]string{}, in.Nationality...)
		for _, a := range in.Addresses {
			countries = append(countries, a.Country)
		}
		if err := add("INDIVIDUAL", i, in.unCommon, true, in.Aliases, countries); err != nil {
			return nil, err
		}
	}
	for i, en := range doc.Entities {
		var countries []string
		for _, a := range en.Addresses {
			countries = append(countries, a.Country)
		}
		if err := add("ENTITY", i, en.unCommon, false, en.Aliases, countries); err != nil {
			return nil, err
		}
	}
	if len(s.Listings) == 0 {
		return nil, errors.New("the list holds no INDIVIDUAL and no ENTITY")
	}
	entries := make([]names.Entry, len(s.Listings))
	for i := range s.Listings {
		l := &s.Listings[i]
		s.byID[l.DataID] = l
		entries[i] = names.Entry{ID: l.DataID, Name: l.Name, Aliases: l.Aliases}
	}
	s.index = names.NewIndex(entries)
	return s, nil
}

func joinNames(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// countryCode reads a country as the list writes it (an English name, or
// now and then a code) as ISO 3166-1 alpha-3.
func countryCode(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	if len(s) == 3 || len(s) == 2 {
		if r, err := language.ParseRegion(s); err == nil && r.IsCountry() {
			return r.ISO3(), true
		}
	}
	code, ok := countryNames()[strings.ToLower(s)]
	return code, ok
}

// countryNames maps the English name of every country to its alpha-3 code.
var countryNames = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	namer := display.English.Regions()
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			r, err := language.ParseRegion(string([]rune{a, b}))
			if err != nil || !r.IsCountry() {
				continue
			}
			if n := namer.Name(r); n != "" {
				m[strings.ToLower(n)] = r.ISO3()
			}
		}
	}
	return m
})

// Hit is a listing whose name or an alias scored at least the threshold.
type Hit struct {
	Listing *Listing
	Score   float64
	// Name is the name or alias that matched.
	Name string
	// Country: the name's country is one of the listing's.
	Country bool
}

// Screen returns the listings that match name, best first.
func (s *Sanctions) Screen(name, country string, threshold float64) []Hit {
	var out []Hit
	for _, c := range s.index.Screen(name, "", threshold) {
		l := s.byID[c.Entry.ID]
		out = append(out, Hit{Listing: l, Score: c.Score, Name: c.Name,
			Country: country != "" && slices.Contains(l.Countries, strings.ToUpper(strings.TrimSpace(country)))})
	}
	return out
}
