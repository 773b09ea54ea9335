package ura

# About 2.7e10 iterations: far beyond any deadline.
decision := {"allow": n > 0, "redact": [], "reasons": []} if {
	n := count([1 |
		some i in numbers.range(1, 3000)
		some j in numbers.range(1, 3000)
		some k in numbers.range(1, 3000)
	])
}
