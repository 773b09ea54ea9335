package ura_test

test_normalise_folds_case_punctuation_and_spacing if {
	data.ura.normalise("KAYO sh.a.") == "kayo sh a"
	data.ura.normalise("  Kayo  SH-A ") == "kayo sh a"
	data.ura.normalise("Uzina Mekanike Poliçan") == "uzina mekanike poliçan"
}

test_normalise_keeps_distinct_names_distinct if {
	data.ura.normalise("KAYO sh.a.") != data.ura.normalise("KAYO 2 sh.a.")
}

test_rank_orders_classifications if {
	data.ura.rank("UNCLASSIFIED") < data.ura.rank("RESTRICTED")
	data.ura.rank("RESTRICTED") < data.ura.rank("CONFIDENTIAL")
	data.ura.rank("CONFIDENTIAL") < data.ura.rank("SECRET")
	not data.ura.rank("TOP SECRET")
}

test_day_bounds if {
	data.ura.day_end("2026-06-02") - data.ura.day_start("2026-06-02") == data.ura.ns_per_day - 1
}
