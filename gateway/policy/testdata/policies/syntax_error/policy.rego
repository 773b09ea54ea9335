package ura

decision := {"allow": true if
