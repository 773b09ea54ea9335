package ura

decision := {"allow": r.status_code == 200, "redact": [], "reasons": []} if {
	r := http.send({"method": "GET", "url": "http://127.0.0.1:1/"})
}
