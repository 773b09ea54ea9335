package report

import (
	"regexp"
	"strconv"
	"strings"
)

// Category is one category of ATT art. 2(1); small arms and light weapons,
// (h), are two, as the ATT reporting template lists them. The codes are the
// values of a record's att_category (gateway/records/schemas/common.json).
type Category struct {
	Code  string `json:"code"`
	Title string `json:"title"`
}

// Categories are ATT art. 2(1) (a)–(h) in the template's order.
var Categories = []Category{
	{"battle_tanks", "Battle tanks"},
	{"armoured_combat_vehicles", "Armoured combat vehicles"},
	{"large_calibre_artillery", "Large-calibre artillery systems"},
	{"combat_aircraft", "Combat aircraft"},
	{"attack_helicopters", "Attack helicopters"},
	{"warships", "Warships"},
	{"missiles_and_launchers", "Missiles and missile launchers"},
	{SmallArms, "Small arms"},
	{LightWeapons, "Light weapons"},
}

// Codes of the two SALW categories, the only ones with sub-categories.
const (
	SmallArms    = "small_arms"
	LightWeapons = "light_weapons"
)

// Subcategory is one line of the template's SALW tables; Category is the
// code of the category it belongs to. The codes are the values of a
// record's att_subcategory.
type Subcategory struct {
	Code     string `json:"code"`
	Category string `json:"category"`
	Title    string `json:"title"`
}

// Subcategories are the ATT reporting template's SALW sub-categories, in
// its order.
var Subcategories = []Subcategory{
	{"revolvers_pistols", SmallArms, "Revolvers and self-loading pistols"},
	{"rifles_carbines", SmallArms, "Rifles and carbines"},
	{"sub_machine_guns", SmallArms, "Sub-machine guns"},
	{"assault_rifles", SmallArms, "Assault rifles"},
	{"light_machine_guns", SmallArms, "Light machine guns"},
	{"small_arms_others", SmallArms, "Others"},
	{"heavy_machine_guns", LightWeapons, "Heavy machine guns"},
	{"grenade_launchers", LightWeapons, "Hand-held under-barrel and mounted grenade launchers"},
	{"portable_anti_tank_guns", LightWeapons, "Portable anti-tank guns"},
	{"recoilless_rifles", LightWeapons, "Recoilless rifles"},
	{"portable_anti_tank_missile_launchers", LightWeapons, "Portable anti-tank missile launchers and rocket systems"},
	{"mortars_under_75mm", LightWeapons, "Mortars of calibres less than 75 mm"},
	{"light_weapons_others", LightWeapons, "Others"},
}

// CategoryTitle is the title of a category code ("" if unknown).
func CategoryTitle(code string) string {
	for _, c := range Categories {
		if c.Code == code {
			return c.Title
		}
	}
	return ""
}

// SubcategoryTitle is the title of a sub-category code ("" if unknown or
// empty).
func SubcategoryTitle(code string) string {
	if s, ok := subcategory(code); ok {
		return s.Title
	}
	return ""
}

func subcategory(code string) (Subcategory, bool) {
	for _, s := range Subcategories {
		if s.Code == code {
			return s, true
		}
	}
	return Subcategory{}, false
}

func categoryIndex(code string) int {
	for i, c := range Categories {
		if c.Code == code {
			return i
		}
	}
	return len(Categories)
}

func subcategoryIndex(code string) int {
	for i, s := range Subcategories {
		if s.Code == code {
			return i
		}
	}
	return -1
}

// Goods is what the classification reads of a licence item or a tracking
// event's item.
type Goods struct {
	ML          string // EU Military List category, ML1…ML22
	ATT         string // att_category, when the record names one
	Subcategory string // att_subcategory, when the record names one
	// Text is the item's description and model, read for the words that
	// refine the default mapping.
	Text string
}

// Classify maps goods to their ATT category and, for SALW, sub-category
// (gateway/ARCHITECTURE.md, Reports): what the record says first
// (att_subcategory, then att_category), else the default mapping from its
// EU Military List category, refined by words of its description. ok is
// false for goods outside ATT art. 2(1): ammunition (art. 3), parts and
// components (art. 4), and every ML category without an art. 2(1)
// counterpart; the annual report does not list them.
func Classify(g Goods) (category, sub string, ok bool) {
	if s, found := subcategory(g.Subcategory); found {
		return s.Category, s.Code, true
	}
	text := strings.ToLower(g.Text)
	switch g.ATT {
	case SmallArms, LightWeapons:
		return salw(g.ATT, text)
	case "ammunition", "parts_and_components":
		return "", "", false
	case "":
	default:
		if categoryIndex(g.ATT) < len(Categories) {
			return g.ATT, "", true
		}
		return "", "", false
	}
	return byMilitaryList(g.ML, text)
}

// byMilitaryList is the default mapping of goods that name no ATT
// category.
func byMilitaryList(ml, text string) (category, sub string, ok bool) {
	switch ml {
	case "ML1":
		// Smooth-bore weapons under 20 mm, other arms and automatic
		// weapons of 12.7 mm or less: small arms, or a heavy machine gun
		// (a light weapon) when the words say so.
		return salw("", text)
	case "ML2":
		// Smooth-bore weapons of 20 mm or more, guns, howitzers, mortars,
		// grenade launchers, recoilless rifles.
		switch {
		case strings.Contains(text, "mortar"):
			if c, found := calibreMM(text); found && c < 75 {
				return LightWeapons, "mortars_under_75mm", true
			}
			return "large_calibre_artillery", "", true
		case strings.Contains(text, "grenade launcher"):
			return LightWeapons, "grenade_launchers", true
		case strings.Contains(text, "recoilless"):
			return LightWeapons, "recoilless_rifles", true
		case strings.Contains(text, "anti-tank gun") && strings.Contains(text, "portable"):
			return LightWeapons, "portable_anti_tank_guns", true
		}
		return "large_calibre_artillery", "", true
	case "ML4":
		// Bombs, torpedoes, rockets, missiles: only missiles, rockets and
		// their launchers are art. 2(1); a portable anti-tank one is a
		// light weapon.
		switch {
		case anyOf(text, "anti-tank", "antitank") && anyOf(text, "portable", "man-portable", "shoulder"):
			return LightWeapons, "portable_anti_tank_missile_launchers", true
		case anyOf(text, "missile", "rocket", "launcher"):
			return "missiles_and_launchers", "", true
		}
	case "ML6":
		switch {
		case tankWord.MatchString(text):
			return "battle_tanks", "", true
		case anyOf(text, "armoured", "armored", "infantry fighting", "personnel carrier"):
			return "armoured_combat_vehicles", "", true
		}
	case "ML9":
		if !anyOf(text, "component", "part", "engine") {
			return "warships", "", true
		}
	case "ML10":
		switch {
		case strings.Contains(text, "helicopter"):
			return "attack_helicopters", "", true
		case anyOf(text, "aircraft", "fighter", "unmanned", "uav"):
			return "combat_aircraft", "", true
		}
	}
	return "", "", false
}

// tankWord matches "tank" or "tanks" as a word (not "tanker", "anti-tank").
var tankWord = regexp.MustCompile(`(^|[^a-z-])tanks?\b`)

// salw picks the SALW sub-category from the words of the description,
// within category cat when the record names one ("" for any); "others" of
// cat (small arms for "") when no word says more.
func salw(cat, text string) (string, string, bool) {
	rules := []struct {
		words []string
		sub   string
	}{
		{[]string{"heavy machine gun"}, "heavy_machine_guns"},
		{[]string{"grenade launcher"}, "grenade_launchers"},
		{[]string{"recoilless"}, "recoilless_rifles"},
		{[]string{"anti-tank missile", "anti-tank rocket", "anti-tank launcher"}, "portable_anti_tank_missile_launchers"},
		{[]string{"anti-tank gun"}, "portable_anti_tank_guns"},
		{[]string{"mortar"}, "mortars_under_75mm"},
		{[]string{"sub-machine gun", "submachine gun", "machine pistol"}, "sub_machine_guns"},
		{[]string{"light machine gun", "machine gun"}, "light_machine_guns"},
		{[]string{"assault rifle"}, "assault_rifles"},
		{[]string{"pistol", "revolver"}, "revolvers_pistols"},
		{[]string{"rifle", "carbine"}, "rifles_carbines"},
	}
	for _, r := range rules {
		if !anyOf(text, r.words...) {
			continue
		}
		if s, _ := subcategory(r.sub); cat == "" || s.Category == cat {
			return s.Category, s.Code, true
		}
	}
	if cat == LightWeapons {
		return cat, "light_weapons_others", true
	}
	return SmallArms, "small_arms_others", true
}

var calibre = regexp.MustCompile(`(\d+(?:\.\d+)?)\s*mm`)

// calibreMM is the first calibre in millimetres the text names.
func calibreMM(text string) (float64, bool) {
	m := calibre.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func anyOf(text string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}
