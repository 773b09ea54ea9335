package report

import "testing"

func TestClassify(t *testing.T) {
	cases := []struct {
		name     string
		g        Goods
		cat, sub string
		ok       bool
	}{
		{"sub-category decides", Goods{ML: "ML2", ATT: "small_arms", Subcategory: "mortars_under_75mm"}, LightWeapons, "mortars_under_75mm", true},
		{"ML1 default is small arms others", Goods{ML: "ML1", Text: "smooth-bore shotguns"}, SmallArms, "small_arms_others", true},
		{"ML1 pistol", Goods{ML: "ML1", Text: "9x19mm self-loading pistols"}, SmallArms, "revolvers_pistols", true},
		{"ML1 revolver", Goods{ML: "ML1", Text: ".38 revolvers"}, SmallArms, "revolvers_pistols", true},
		{"ML1 assault rifle before rifle", Goods{ML: "ML1", Text: "7.62x39mm assault rifles"}, SmallArms, "assault_rifles", true},
		{"ML1 carbine", Goods{ML: "ML1", Text: "5.56mm carbines"}, SmallArms, "rifles_carbines", true},
		{"ML1 sub-machine gun", Goods{ML: "ML1", Text: "9mm sub-machine guns"}, SmallArms, "sub_machine_guns", true},
		{"ML1 light machine gun", Goods{ML: "ML1", Text: "PKM machine guns"}, SmallArms, "light_machine_guns", true},
		{"ML1 heavy machine gun is a light weapon", Goods{ML: "ML1", Text: "12.7mm heavy machine guns"}, LightWeapons, "heavy_machine_guns", true},
		{"att small arms keeps its category", Goods{ML: "ML1", ATT: "small_arms", Text: "12.7mm heavy machine guns"}, SmallArms, "light_machine_guns", true},
		{"att light weapons others", Goods{ML: "ML1", ATT: "light_weapons"}, LightWeapons, "light_weapons_others", true},
		{"ML2 60 mm mortar", Goods{ML: "ML2", Text: "60mm commando mortars"}, LightWeapons, "mortars_under_75mm", true},
		{"ML2 82 mm mortar", Goods{ML: "ML2", Text: "82mm mortars"}, "large_calibre_artillery", "", true},
		{"ML2 howitzer", Goods{ML: "ML2", Text: "155mm howitzers"}, "large_calibre_artillery", "", true},
		{"ML2 grenade launcher", Goods{ML: "ML2", Text: "40mm under-barrel grenade launchers"}, LightWeapons, "grenade_launchers", true},
		{"ML2 recoilless", Goods{ML: "ML2", Text: "84mm recoilless rifles"}, LightWeapons, "recoilless_rifles", true},
		{"ML4 portable anti-tank", Goods{ML: "ML4", Text: "man-portable anti-tank missile launchers"}, LightWeapons, "portable_anti_tank_missile_launchers", true},
		{"ML4 missile", Goods{ML: "ML4", Text: "surface-to-air missiles"}, "missiles_and_launchers", "", true},
		{"ML4 bombs are not art. 2(1)", Goods{ML: "ML4", Text: "aircraft bombs"}, "", "", false},
		{"ML6 tank", Goods{ML: "ML6", Text: "Type 59 battle tanks"}, "battle_tanks", "", true},
		{"ML6 tanker is not a tank", Goods{ML: "ML6", Text: "fuel tanker trucks"}, "", "", false},
		{"ML6 APC", Goods{ML: "ML6", Text: "wheeled armoured personnel carriers"}, "armoured_combat_vehicles", "", true},
		{"ML9 vessel", Goods{ML: "ML9", Text: "offshore patrol vessel"}, "warships", "", true},
		{"ML10 helicopter", Goods{ML: "ML10", Text: "attack helicopters"}, "attack_helicopters", "", true},
		{"ML10 aircraft", Goods{ML: "ML10", Text: "light combat aircraft"}, "combat_aircraft", "", true},
		{"ML3 ammunition", Goods{ML: "ML3", Text: "7.62x39mm cartridges"}, "", "", false},
		{"att ammunition", Goods{ML: "ML1", ATT: "ammunition"}, "", "", false},
		{"att category other than SALW", Goods{ML: "ML13", ATT: "warships"}, "warships", "", true},
		{"ML13 armour", Goods{ML: "ML13", Text: "body armour plates"}, "", "", false},
	}
	for _, c := range cases {
		cat, sub, ok := Classify(c.g)
		if cat != c.cat || sub != c.sub || ok != c.ok {
			t.Errorf("%s: %q %q %v; want %q %q %v", c.name, cat, sub, ok, c.cat, c.sub, c.ok)
		}
	}
}
