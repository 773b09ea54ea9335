package ura

decision := {"allow": false}
